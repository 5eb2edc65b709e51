import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec
from strategies.base import RequestFacts
from strategies.decision import NoChannelError, decide
from strategies.observations import Observations
from strategies.registry import build_strategies
from strategies.signals import SIGNALS
from strategies.weighted import WeightedStrategy
from tests.unit.catalog_fixture import build_index

STRATEGIES = build_strategies()
REQUEST = RequestFacts(prompt_tokens=200, max_output_tokens=300)


def observed(index):  # type: ignore[no-untyped-def]
    observations = Observations(index)
    for channel in index.channels:
        for _ in range(5):
            if channel.id == "fast-llama":
                observations.record_success(channel.id, latency_ms=300, ttft_ms=80, output_tokens=200)
            elif channel.id == "flaky-qwen":
                observations.record_failure(channel.id)
            else:
                observations.record_success(channel.id, latency_ms=2500, ttft_ms=700, output_tokens=100)
    return observations


def winner(spec: RouteSpec, strategy: str, request: RequestFacts = REQUEST) -> str:
    index = build_index()
    decision = decide(index, spec, STRATEGIES[strategy], request, 5, observed(index))
    return decision.ranked[0].id


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("cost_first", "free-qwen"),
        ("free_first", "free-qwen"),
        ("local_first", "local-llama"),
        ("speed_optimized", "fast-llama"),
        ("quality_optimized", "large-qwen"),
        ("priority", "cheap-gemma"),  # no order set: by name
    ],
)
def test_each_strategy_picks_its_channel(strategy: str, expected: str) -> None:
    assert winner(BUILTIN_VIRTUAL_MODELS["auto"], strategy) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auto:free", "free-qwen"),
        ("auto:local", "local-llama"),
        ("auto:cheap", "free-qwen"),
        ("auto:fast", "fast-llama"),
        ("auto:best", "large-qwen"),
    ],
)
def test_each_virtual_name(name: str, expected: str) -> None:
    spec = BUILTIN_VIRTUAL_MODELS[name]
    assert winner(spec, spec.strategy or "balanced") == expected


def test_auto_free_never_includes_an_unverified_free_name() -> None:
    index = build_index()
    decision = decide(
        index, BUILTIN_VIRTUAL_MODELS["auto:free"], STRATEGIES["balanced"], REQUEST, 10, observed(index)
    )
    assert [c.id for c in decision.ranked] == ["free-qwen"]


def test_reliability_pushes_the_failing_channel_down() -> None:
    index = build_index()
    only_reliability = WeightedStrategy("r", {"reliability": 1.0})
    decision = decide(index, BUILTIN_VIRTUAL_MODELS["auto"], only_reliability, REQUEST, 10, observed(index))
    assert decision.ranked[-1].id == "flaky-qwen"


def test_weights_decide_the_order_not_a_fixed_sort() -> None:
    orders = {
        name: [
            c.id
            for c in decide(
                build_index(),
                BUILTIN_VIRTUAL_MODELS["auto"],
                STRATEGIES[name],
                REQUEST,
                10,
                observed(build_index()),
            ).ranked
        ]
        for name in ("cost_first", "local_first", "speed_optimized", "quality_optimized")
    }
    assert len({tuple(order) for order in orders.values()}) == 4


def test_ties_break_deterministically_by_priority() -> None:
    index = build_index()
    flat = WeightedStrategy("flat", {})
    first = decide(index, BUILTIN_VIRTUAL_MODELS["auto"], flat, REQUEST, 10, Observations(index))
    again = decide(index, BUILTIN_VIRTUAL_MODELS["auto"], flat, REQUEST, 10, Observations(index))
    assert (
        [c.id for c in first.ranked] == [c.id for c in again.ranked] == sorted(c.id for c in index.channels)
    )


def test_tools_and_vision_filters_exclude_known_incapable_channels() -> None:
    index = build_index()
    tools = RequestFacts(prompt_tokens=10, max_output_tokens=10, needs_tools=True)
    decision = decide(
        index,
        BUILTIN_VIRTUAL_MODELS["auto"],
        STRATEGIES["speed_optimized"],
        tools,
        10,
        observed(index),
        explain=True,
    )
    assert "fast-llama" not in {c.id for c in decision.ranked}
    assert ("fast-llama", "tools") in {(e.channel.id, e.filter) for e in decision.excluded}
    vision = RequestFacts(prompt_tokens=10, max_output_tokens=10, needs_vision=True)
    decision = decide(
        index, BUILTIN_VIRTUAL_MODELS["auto"], STRATEGIES["quality_optimized"], vision, 10, observed(index)
    )
    assert decision.ranked[0].id != "large-qwen"


def test_context_filter_and_the_error_naming_it() -> None:
    index = build_index()
    long_prompt = RequestFacts(prompt_tokens=100_000, max_output_tokens=1_000)
    decision = decide(
        index, BUILTIN_VIRTUAL_MODELS["auto"], STRATEGIES["balanced"], long_prompt, 10, observed(index)
    )
    assert {c.id for c in decision.ranked} == {"large-qwen", "fast-llama", "flaky-qwen"}
    with pytest.raises(NoChannelError) as raised:
        decide(
            index,
            RouteSpec("tag:gemma", query=_q("tag:gemma")),
            STRATEGIES["balanced"],
            long_prompt,
            10,
            observed(index),
        )
    assert raised.value.status == 400
    assert "context filter" in raised.value.message


def test_unknown_tag_error_offers_the_closest_tags() -> None:
    index = build_index()
    with pytest.raises(NoChannelError) as raised:
        decide(
            index,
            RouteSpec("tag:qwn", query=_q("tag:qwn")),
            STRATEGIES["balanced"],
            REQUEST,
            5,
            Observations(index),
        )
    assert raised.value.kind == "tag_not_found"
    assert "qwen" in raised.value.message


def test_config_strategies_reject_a_typo_in_a_signal() -> None:
    with pytest.raises(ValueError, match=r"unknown signal.*qualty"):
        build_strategies({"mine": {"qualty": 1.0}})
    assert "mine" in build_strategies({"Mine": {"quality": 1.0}})


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(
        st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.3, 0.5]), min_size=len(SIGNALS), max_size=len(SIGNALS)
    ),
    signal=st.sampled_from(SIGNALS),
    raise_by=st.sampled_from([0.05, 0.1, 0.3, 1.0]),
)
def test_raising_a_weight_never_lowers_the_best_candidate_on_that_signal(
    weights: list[float], signal: str, raise_by: float
) -> None:
    index = build_index()
    observations = observed(index)
    base = dict(zip(SIGNALS, weights, strict=True))
    raised = {**base, signal: base[signal] + raise_by}
    spec = BUILTIN_VIRTUAL_MODELS["auto"]
    before = decide(index, spec, WeightedStrategy("a", base), REQUEST, 10, observations, explain=True)
    after = decide(index, spec, WeightedStrategy("b", raised), REQUEST, 10, observations, explain=True)
    values = before.ranking.signals[signal]
    best_positions = np.flatnonzero(values == values.max())
    best_ids = [before.ranked[p].id for p in best_positions]
    order_before = [c.id for c in before.ranked]
    order_after = [c.id for c in after.ranked]
    best = min(best_ids, key=order_before.index)  # the best on the signal, as first ranked
    assert order_after.index(best) <= order_before.index(best)


def _q(text: str):  # type: ignore[no-untyped-def]
    from catalog.query import parse_tag_query

    return parse_tag_query(text)
