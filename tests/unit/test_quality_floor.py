"""auto:smart through the adapter and the runtime (the in-process fake of LiteLLM's Router,
tests/unit/fake_router.py): the prompt's tier sets a quality floor, the strategy picks the
cheapest channel above it, failover stays inside it, and feedback moves a channel per kind."""

from __future__ import annotations

from typing import Any

from router_ext.hook import SmartRouterHook
from router_ext.runtime.runtime import RouterRuntime
from router_ext.settings import parse_settings
from tests.unit.fake_router import FakeRouter, Reply, deployment, failure

HI = "hi"
CODE = (
    "Implement a thread-safe LRU cache with per-key TTL in Python, with unit tests; explain the "
    "trade-offs of your locking design and its performance under concurrency."
)
ANALYSIS = (
    "Compare a monolith and microservices for our 12-person team: the trade-offs in operations, "
    "performance, consistency and security, and a migration plan with its risks."
)
PROOF = "Prove that the square root of 2 is irrational, rigorously, by contradiction."
CHANNELS = {
    # Quality from the sourced table (catalog/model_quality.json) by name: 0.39, 0.58, 0.81, 0.72.
    "free-small": ("openai/llama3.1-8b", 0.0, 0.0),
    "cheap-mid": ("openai/gpt-4o-mini", 1.5e-7, 6e-7),
    "dear-strong": ("openai/claude-sonnet-4-5", 3e-6, 1.5e-5),
    "thinker": ("openai/deepseek-r1", 5.5e-7, 2.2e-6),
}


def stack(settings: dict[str, Any] | None = None) -> tuple[FakeRouter, RouterRuntime, SmartRouterHook]:
    router = FakeRouter(
        [
            deployment(name, model, input_cost_per_token=price_in, output_cost_per_token=price_out)
            for name, (model, price_in, price_out) in CHANNELS.items()
        ]
    )
    for name in CHANNELS:
        router.answers(name, Reply())
    runtime = RouterRuntime(parse_settings({"records": False, **(settings or {})}), router=lambda: router)
    return router, runtime, SmartRouterHook(runtime)


def ask(prompt: str, model: str = "auto:smart", **headers: str) -> dict[str, Any]:
    data: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if headers:
        data["proxy_server_request"] = {"headers": {k.replace("_", "-"): v for k, v in headers.items()}}
    return data


async def test_each_tier_goes_to_the_cheapest_channel_good_enough_for_it() -> None:
    router, runtime, hook = stack()
    served = {}
    for prompt in (HI, CODE, PROOF):
        outcome = await router.call(hook, ask(prompt))
        assert outcome.status == 200, outcome.error
        served[outcome.headers["x-router-tier"]] = (outcome.served_by, outcome.headers["x-router-floor"])
    assert served == {
        "simple": ("free-small", "0"),
        "complex": ("cheap-mid", "0.55"),
        # dear-strong (0.81) meets the floor too, but a reasoning prompt takes a thinking model
        "reasoning": ("thinker", "0.7"),
    }
    await runtime.shutdown()


async def test_failover_never_leaves_the_floor() -> None:
    router, runtime, hook = stack()
    for name in CHANNELS:
        router.answers(name, failure(500, f"{name} is down"))
    outcome = await router.call(hook, ask(CODE))
    assert outcome.status == 503
    assert "free-small" not in outcome.tried  # 0.39: below the complex floor
    assert set(outcome.tried) == {"cheap-mid", "thinker", "dear-strong"}
    await runtime.shutdown()


async def test_nothing_good_enough_is_an_error_naming_the_floor_or_one_step_down_when_allowed() -> None:
    router, runtime, hook = stack({"difficulty": {"floors": {"reasoning": 0.95}}})
    outcome = await router.call(hook, ask(PROOF))
    assert outcome.status == 404
    message = str(outcome.error)
    assert "no_channel_meets_floor" in message or "quality floor 0.95" in message
    assert "dear-strong" in message and "0.81" in message  # the best there is, and its quality
    await runtime.shutdown()

    router, runtime, hook = stack({"difficulty": {"floors": {"reasoning": 0.95}, "step_down": True}})
    outcome = await router.call(hook, ask(PROOF))
    assert outcome.status == 200
    assert outcome.headers["x-router-tier"] == "complex"
    assert outcome.headers["x-router-floor"] == "0.55"
    assert outcome.served_by == "cheap-mid"
    await runtime.shutdown()


async def test_a_client_may_raise_its_tier_never_lower_it() -> None:
    router, runtime, hook = stack()
    raised = await router.call(hook, ask(HI, x_router_tier="complex"))
    assert (raised.served_by, raised.headers["x-router-tier"]) == ("cheap-mid", "complex")
    lowered = await router.call(hook, ask(PROOF, x_router_tier="simple"))
    assert (lowered.served_by, lowered.headers["x-router-tier"]) == ("thinker", "reasoning")
    wrong = await router.call(hook, ask(HI, x_router_tier="easy"))
    assert wrong.status == 400 and "x-router-tier must be one of" in str(wrong.error)
    await runtime.shutdown()


async def test_feedback_moves_a_channel_below_the_floor_for_that_kind_only() -> None:
    router, runtime, hook = stack()
    first = await router.call(hook, ask(CODE))
    assert first.served_by == "cheap-mid"
    kind = first.headers["x-router-kind"]
    answer = await runtime.feedback.give(first.headers["x-router-request-id"], 0.0, "api")
    assert answer["kind"] == kind and answer["channel"] == "cheap-mid"
    assert answer["quality"]["prior"] == 0.58 and answer["quality"]["result"] < 0.58
    # One bad answer moves little: (0.58 x 20 + 0) / 21 = 0.552, still above the complex floor
    second = await router.call(hook, ask(CODE))
    assert second.served_by == "cheap-mid"
    await runtime.feedback.give(second.headers["x-router-request-id"], False, "api")
    # Two: 11.6 / 22 = 0.527 < 0.55: out of the code floor; the next cheapest above it serves
    assert (await router.call(hook, ask(CODE))).served_by == "thinker"
    other = await router.call(hook, ask(ANALYSIS))  # another kind: cheap-mid is as good as ever
    assert other.headers["x-router-kind"] != kind
    assert other.served_by == "cheap-mid"
    await runtime.shutdown()


async def test_feedback_on_the_next_request_scores_only_the_callers_own_answers() -> None:
    router, runtime, hook = stack()
    first = await router.call(hook, ask(CODE))
    request_id = first.headers["x-router-request-id"]
    await router.call(hook, ask(HI, x_router_feedback=f"{request_id}=0"))
    await runtime.flow.feedback_done()
    kind = first.headers["x-router-kind"]
    assert runtime.feedback.learned.posterior(kind, "cheap-mid", 0.58).bad == 1.0
    malformed = await router.call(hook, ask(HI, x_router_feedback="just bad"))
    assert malformed.status == 400 and "x-router-feedback" in str(malformed.error)
    await runtime.shutdown()


async def test_rules_match_the_tier_and_the_kind() -> None:
    router, runtime, hook = stack(
        {
            "rules": [
                {"name": "hard", "match": {"complexity": ["complex", "reasoning"]}, "route": "tag:sonnet"},
                {"name": "chat", "match": {"kind": "chat"}, "route": "auto:free"},
            ]
        }
    )
    hard = await router.call(hook, ask(PROOF, model="auto"))
    assert (hard.headers["x-router-rule"], hard.served_by) == ("hard", "dear-strong")
    easy = await router.call(hook, ask(HI, model="auto"))
    assert (easy.headers["x-router-rule"], easy.served_by) == ("chat", "free-small")
    await runtime.shutdown()


async def test_explain_shows_the_tier_the_floor_and_what_it_excluded() -> None:
    _, runtime, _ = stack()
    decision, _, _ = runtime.explain("auto:smart", ask(CODE))
    assert decision is not None and decision.floor is not None
    assert decision.floor.tier == "complex" and decision.floor.minimum == 0.55
    assert [e.channel.id for e in decision.excluded if e.filter == "floor"] == ["free-small"]
    assert decision.ranking_request is not None and decision.ranking_request.difficulty is not None
    await runtime.shutdown()


async def test_learned_quality_survives_a_restart(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/records.db"
    router, runtime, hook = stack({"records": True, "database_url": url, "journal_dir": None})
    first = await router.call(hook, ask(CODE))
    await runtime.until_store()
    await runtime.feedback.give(first.headers["x-router-request-id"], 0.0, "api")
    kind = first.headers["x-router-kind"]
    await runtime.shutdown()

    router, runtime, hook = stack({"records": True, "database_url": url, "journal_dir": None})
    await runtime.until_store()
    assert runtime.feedback.learned.posterior(kind, "cheap-mid", 0.58).bad == 1.0
    # an answer served before the restart can still be scored: found in the store
    scored = await runtime.feedback.give(first.headers["x-router-request-id"], 1.0, "api")
    assert scored["quality"]["good"] == 1.0 and scored["quality"]["bad"] == 1.0
    await runtime.shutdown()
