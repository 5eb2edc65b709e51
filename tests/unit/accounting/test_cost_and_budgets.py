import datetime as dt

import pytest

from accounting.budgets import Limit, SpendBook, period_end
from accounting.cost import Usage, request_cost
from catalog.channel import Channel
from router_ext.settings import parse_settings
from router_ext.state.routing_state import RoutingState
from router_ext.state.spend_tracker import SpendTracker
from strategies.registry import build_strategies

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)


def channel(input_price: float | None, output_price: float | None, verified: bool = True) -> Channel:
    return Channel(
        id="c",
        model_name="m",
        upstream_model="openai/m",
        provider="openai",
        channel="c",
        input_cost_per_token=input_price,
        output_cost_per_token=output_price,
        price_verified=verified,
    )


def test_a_priced_model_never_silently_costs_zero() -> None:
    assert request_cost(channel(1e-6, 2e-6), Usage(10, 5), litellm_cost=0.0) == pytest.approx(2e-5)


def test_configured_prices_beat_the_generic_map_and_unpriced_use_litellm() -> None:
    assert request_cost(channel(1e-6, 1e-6), Usage(10, 10), litellm_cost=0.5) == pytest.approx(2e-5)
    assert request_cost(channel(None, None, verified=False), Usage(10, 10), litellm_cost=0.5) == 0.5
    assert request_cost(channel(0.0, 0.0), Usage(10, 10), litellm_cost=None) == 0.0
    assert request_cost(None, Usage(10, 10), litellm_cost=None) == 0.0


def test_budgets_check_with_the_estimate_and_settle_with_the_cost() -> None:
    book = SpendBook([Limit("session", "day", 1.0), Limit("global", "month", 10.0)])
    assert book.check("k", "s", 0.6, NOW) is None
    book.settle("k", "s", 0.6, NOW)
    exceeded = book.check("k", "s", 0.6, NOW)
    assert exceeded is not None and exceeded.limit.scope == "session"
    assert exceeded.resets_at == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert "session daily budget for session 's' exceeded: spent $0.600000 of $1.000000" in exceeded.message
    assert book.check("k", "other", 0.6, NOW) is None
    assert book.check("k", "s", 0.6, NOW + dt.timedelta(days=1)) is None  # a new day


def test_month_end() -> None:
    assert period_end("month", dt.datetime(2026, 12, 31, 23, tzinfo=dt.UTC)) == dt.datetime(
        2027, 1, 1, tzinfo=dt.UTC
    )


def test_on_budget_rule_switches_the_strategy_and_says_why() -> None:
    settings = parse_settings(
        {"budgets": {"global": {"day": 1.0}}, "on_budget": {"at_percent": 80, "strategy": "free_first"}}
    )
    state = RoutingState(build_strategies(), "balanced")
    tracker = SpendTracker(settings, state, store_url=None)
    tracker.settle("r1", channel(0.1, 0.1), Usage(4, 3), None, "k", "s")  # $0.70
    assert state.active == "balanced"
    tracker.settle("r2", channel(0.1, 0.1), Usage(1, 1), None, "k", "s")  # $0.90 = 90%
    assert state.active == "free_first"
    assert state.reason.startswith("on_budget: 90% of the daily budget")
    cost, new = tracker.settle("r2", channel(0.1, 0.1), Usage(1, 1), None, "k", "s")
    assert (cost, new) == (pytest.approx(0.2), False)  # settled once


def test_estimates_in_flight_count_against_a_budget_until_their_request_ends() -> None:
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    book = SpendBook([Limit("key", "day", 1.0)])
    for request in ("r1", "r2"):
        assert book.check("k", None, 0.4, now) is None
        book.hold(request, "k", None, 0.4, now, at=0.0)
    refused = book.check("k", None, 0.4, now)  # 0.8 held + 0.4 > 1.0, with nothing settled yet
    assert refused is not None and refused.spent == 0.0 and refused.held == pytest.approx(0.8)
    assert "estimated for requests in flight" in refused.message
    assert book.check("other", None, 0.4, now) is None  # another key's budget holds nothing of it
    book.hold("r2", "k", None, 0.4, now, at=1.0)  # the same request again: held once
    book.settle("k", None, 0.3, now)
    book.release("r1")  # ended: its actual 0.3 counts instead of its estimate
    assert book.check("k", None, 0.3, now) is None  # 0.3 spent + 0.4 held + 0.3
    assert book.check("k", None, 0.31, now) is not None
    book.release("r2")
    book.release("r2")
    assert book.held == {}
    assert book.check("k", None, 0.7, now) is None


def test_a_hold_whose_request_never_ended_expires() -> None:
    from accounting.budgets import HOLD_TTL_S

    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    book = SpendBook([Limit("global", "day", 1.0)])
    book.hold("lost", None, None, 0.9, now, at=0.0)
    assert book.check(None, None, 0.2, now) is not None
    book.hold("next", None, None, 0.1, now, at=HOLD_TTL_S + 1)
    assert book.check(None, None, 0.8, now) is None  # only "next" is held now
