"""When a hedge goes out and onto which candidate (strategies/hedging.py)."""

from __future__ import annotations

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
