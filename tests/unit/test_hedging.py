"""When a hedge goes out and onto which candidate (strategies/hedging.py), and what a race
concludes (router_ext/runtime/hedging.py: the loser's charge, one conclusion per request)."""

from __future__ import annotations

import asyncio
import json

from catalog.channel import Channel
from router_ext.runtime.hedging import StreamHedging
from strategies.hedging import FirstTokenTimes, HedgePolicy, hedge_delay_ms, hedge_target


def test_the_wait_is_the_channels_p90_never_below_the_floor() -> None:
    times = FirstTokenTimes()
    policy = HedgePolicy(floor_ms=100, min_samples=5, unobserved_ms=1500)
    assert hedge_delay_ms(policy, times, "a") == 1500  # nothing seen yet
    for ms in range(1, 11):  # 100 .. 1000 ms
        times.observe("a", ms * 100.0)
    assert hedge_delay_ms(policy, times, "a") == 1000  # the 90th percentile of ten
    for _ in range(10):
        times.observe("b", 20.0)
    assert hedge_delay_ms(policy, times, "b") == 100  # fast channels still get the floor


def test_a_slow_tail_cannot_drag_the_wait_into_itself() -> None:
    """Late on 8 % of requests, 2 s each: with every late answer (and every hedge's "at least
    this late") in the samples, the p90 sits in the tail, and a hedge would go out after the tail
    it is for. The wait is capped at a multiple of the median."""
    times = FirstTokenTimes()
    for ms in [200.0] * 11 + [2000.0] * 2:
        times.observe("a", ms)
    uncapped = HedgePolicy(floor_ms=250, min_samples=5, max_over_median=0)
    assert hedge_delay_ms(uncapped, times, "a") == 2000
    assert hedge_delay_ms(HedgePolicy(floor_ms=250, min_samples=5), times, "a") == 600  # 3 x 200


def test_few_samples_are_not_trusted_and_old_ones_age_out() -> None:
    times = FirstTokenTimes(kept=4)
    for ms in (5000.0, 5000.0, 5000.0, 5000.0, 10.0, 10.0, 10.0, 10.0):
        times.observe("a", ms)
    assert times.quantile("a", 0.9) == 10.0
    assert times.quantile("a", 0.9, min_samples=5) is None
    times.observe("a", -1.0)  # no first token known: ignored
    assert times.quantile("a", 0.5) == 10.0


def test_the_hedge_is_the_next_candidate_that_costs_nothing_unless_paid_is_allowed() -> None:
    free = {"b-free", "d-local"}
    ranked = ["a", "c-paid", "b-free", "d-local"]
    assert hedge_target(ranked, "a", free.__contains__, onto_paid=False) == "b-free"
    assert hedge_target(ranked, "a", free.__contains__, onto_paid=True) == "c-paid"
    assert hedge_target(["a", "c-paid"], "a", free.__contains__, onto_paid=False) is None
    assert hedge_target(["a"], "a", free.__contains__, onto_paid=True) is None


def test_only_the_configured_strategies_hedge_degraded_ones_included() -> None:
    policy = HedgePolicy()
    assert policy.applies_to("speed_optimized") and policy.applies_to("speed_optimized@budget-2/4")
    assert not policy.applies_to("cost_first") and not policy.applies_to(None)
    assert not HedgePolicy(enabled=False).applies_to("speed_optimized")


class _Channels:
    """The one thing StreamHedging asks of the catalogue: a channel by id."""

    def __init__(self, *channels: Channel) -> None:
        self.by_id = {c.id: c for c in channels}

    def channel(self, channel_id: str) -> Channel | None:
        return self.by_id.get(channel_id)


def _channel(channel_id: str, price: float) -> Channel:
    return Channel(
        channel_id,
        channel_id,
        f"openai/{channel_id}",
        "openai",
        "openai",
        input_cost_per_token=price,
        output_cost_per_token=price,
        price_verified=True,
    )


def test_a_priced_loser_cut_before_its_first_token_is_charged_its_prompt() -> None:
    hedging = StreamHedging(
        HedgePolicy(unobserved_ms=0, floor_ms=0), _Channels(_channel("paid", 1e-6), _channel("free", 0))
    )
    routed: dict[str, object] = {
        "request_id": "r1",
        "stream": True,
        "endpoint": "chat",
        "strategy": "speed_optimized",
    }
    assert hedging.plan(routed, ["paid", "free"]) == "free" and routed["hedge"] == "free"
    asyncio.run(hedging.hold("r1", "free"))  # the hedge went out
    hedging.won("r1", "free")
    assert asyncio.run(hedging.lost("r1", "paid")) and not asyncio.run(hedging.lost("r1", "free"))
    concluded = hedging.conclude("r1", "free", prompt_tokens=1000)
    assert concluded is not None
    record, race, loser_cost = concluded
    assert loser_cost == 1000 * 1e-6 and json.loads(record)["winner"] == "free" and race.after_ms is not None
    assert hedging.conclude("r1", "free", 1000) is None  # once


def test_no_hedge_without_a_candidate_that_costs_nothing_or_for_a_whole_answer_by_default() -> None:
    hedging = StreamHedging(HedgePolicy(), _Channels(_channel("a", 1e-6), _channel("b", 1e-6)))
    assert (
        hedging.plan(
            {"request_id": "r", "stream": True, "endpoint": "chat", "strategy": "speed_optimized"}, ["a", "b"]
        )
        is None
    )
    free = StreamHedging(HedgePolicy(), _Channels(_channel("a", 1e-6), _channel("b", 0)))
    assert (
        free.plan(
            {"request_id": "r", "stream": False, "endpoint": "chat", "strategy": "speed_optimized"},
            ["a", "b"],
        )
        is None
    )
    whole = StreamHedging(HedgePolicy(non_streams=True), _Channels(_channel("a", 1e-6), _channel("b", 0)))
    assert (
        whole.plan(
            {"request_id": "r", "stream": False, "endpoint": "chat", "strategy": "speed_optimized"},
            ["a", "b"],
        )
        == "b"
    )
    assert (
        whole.plan(
            {"request_id": "s", "stream": False, "endpoint": "messages", "strategy": "speed_optimized"},
            ["a", "b"],
        )
        is None
    )
