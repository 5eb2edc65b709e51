"""The request flow without a proxy: the adapter and the runtime driven by an in-process fake of
LiteLLM's Router (tests/unit/fake_router.py), which calls them as the proxy does."""

from __future__ import annotations

import time
from typing import Any

import pytest
from litellm.proxy._types import ProxyException

from router_ext.hook import SmartRouterHook
from router_ext.runtime.runtime import RouterRuntime
from router_ext.settings import parse_settings
from tests.unit.fake_router import Auth, FakeRouter, Reply, deployment, failure

PAID = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
FREE = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}


def stack(settings: dict[str, Any] | None = None) -> tuple[FakeRouter, RouterRuntime, SmartRouterHook]:
    router = FakeRouter(
        [
            deployment("free-a", "openai/qwen3-8b:free", **FREE),
            deployment("cheap-b", "openai/qwen3-32b", input_cost_per_token=1e-7, output_cost_per_token=1e-7),
            # The quality of each, as a config would set it (the table's are closer together).
            deployment("dear-c", "openai/qwen3-235b", quality=0.9, **PAID),
        ]
    )
    for found in ("free-a", "cheap-b", "dear-c"):
        router.answers(found, Reply())
    runtime = RouterRuntime(
        parse_settings({"records": False, "strategy": "cost_first", **(settings or {})}),
        router=lambda: router,
    )
    return router, runtime, SmartRouterHook(runtime)


def request(model: str = "tag:qwen3", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}


async def test_a_virtual_name_becomes_one_deployment_with_the_ranked_rest_as_fallbacks() -> None:
    router, runtime, hook = stack()
    outcome = await router.call(hook, request())
    assert outcome.status == 200
    assert outcome.served_by == "free-a"
    assert outcome.headers["x-router-channel"] == "free-a"
    assert outcome.headers["x-router-strategy"] == "cost_first"
    assert outcome.headers["x-router-attempts"] == "1"
    assert outcome.headers["x-router-cost-usd"] == "0"
    await runtime.shutdown()


async def test_failover_walks_the_ranking_and_every_failure_reaches_the_breakers() -> None:
    router, runtime, hook = stack()
    router.answers("free-a", failure(500))
    router.answers("cheap-b", failure(429, "slow down", **{"retry-after": "30"}))
    outcome = await router.call(hook, request())
    assert outcome.tried == ["free-a", "cheap-b", "dear-c"]
    assert outcome.served_by == "dear-c"
    assert outcome.headers["x-router-attempts"] == "3"
    states = {c["id"]: c for c in runtime.admin.channels()}
    assert states["cheap-b"]["last_error_class"] == "temporary"
    assert states["free-a"]["consecutive_failures"] == 1
    # Settled on the channel that answered: 10 prompt + 5 completion tokens at dear-c's price.
    assert float(outcome.headers["x-router-cost-usd"]) == pytest.approx(10 * 1e-6 + 5 * 2e-6)
    assert runtime.admin.spend()["day"]["spent_usd"] == pytest.approx(10 * 1e-6 + 5 * 2e-6)
    await runtime.shutdown()


async def test_a_dead_key_is_disabled_and_the_next_request_skips_it() -> None:
    router, runtime, hook = stack()
    router.answers("free-a", failure(401, "invalid api key"))
    first = await router.call(hook, request())
    assert first.served_by == "cheap-b"
    second = await router.call(hook, request())
    assert second.tried == ["cheap-b"]
    assert {c["id"]: c["state"] for c in runtime.admin.channels()}["free-a"] == "disabled"
    await runtime.shutdown()


async def test_every_candidate_failing_is_one_503_naming_each_reason() -> None:
    router, runtime, hook = stack()
    for found in ("free-a", "cheap-b", "dear-c"):
        router.answers(found, failure(500, f"{found} is down"))
    outcome = await router.call(hook, request())
    assert outcome.status == 503
    assert outcome.headers["x-router-status"] == "all-channels-failed"
    detail = outcome.error.detail  # type: ignore[union-attr]
    assert [c["channel"] for c in detail["channels"]] == ["free-a", "cheap-b", "dear-c"]
    assert runtime.metrics.requests.labels("dear-c", "failed")._value.get() == 1
    await runtime.shutdown()


async def test_the_callers_own_400_is_passed_through_not_turned_into_503() -> None:
    router, runtime, hook = stack()
    for found in ("free-a", "cheap-b", "dear-c"):
        router.answers(found, failure(400, "messages: field required"))
    outcome = await router.call(hook, request())
    assert outcome.status == 400
    assert "x-router-status" not in outcome.headers
    assert {c["state"] for c in runtime.admin.channels()} == {"closed"}  # not the channels' fault
    await runtime.shutdown()


async def test_a_rejection_is_recorded_once_and_tells_its_type() -> None:
    router, runtime, hook = stack()
    outcome = await router.call(hook, request("tag:nothing-has-this"))
    assert outcome.status == 404
    assert runtime.metrics.requests.labels("-", "rejected")._value.get() == 1
    assert outcome.tried == []
    await runtime.shutdown()


async def test_a_budget_refuses_what_would_pass_it_and_counts_what_was_spent() -> None:
    router, runtime, hook = stack(
        {"strategy": "quality_optimized", "budgets": {"global": {"day": 0.00002}, "degrade_from": None}}
    )
    first = await router.call(hook, request(max_tokens=5))
    assert first.served_by == "dear-c"
    assert runtime.admin.spend()["day"]["spent_usd"] == pytest.approx(2e-5)
    second = await router.call(hook, request(max_tokens=5))
    assert second.status == 429
    assert "budget" in str(second.error)
    await runtime.shutdown()


async def test_near_a_budget_weight_moves_from_quality_to_cost_step_by_step() -> None:
    router, runtime, hook = stack(
        {"strategy": "quality_optimized", "budgets": {"global": {"day": 0.0001}, "degrade_steps": 4}}
    )
    served, strategies, weights = [], [], []
    for _ in range(5):  # each answer from dear-c spends 2e-5: 20 %, 40 %, ... of the budget
        outcome = await router.call(hook, request(max_tokens=5))
        served.append(outcome.served_by)
        strategies.append(outcome.headers.get("x-router-strategy"))
        weights.append(outcome.headers.get("x-router-weights"))
    # below 70 %: the strategy as configured, no weights header
    assert strategies[:4] == ["quality_optimized"] * 4 and weights[:4] == [None] * 4
    assert served[:4] == ["dear-c"] * 4
    # at 80 % (step 2 of 4: half the quality weight moved to cost): a cheaper channel now wins
    assert strategies[4] == "quality_optimized@budget-2/4"
    assert weights[4] is not None and "cost=0.45" in weights[4] and "quality=0.35" in weights[4]
    assert served[4] != "dear-c"
    explained, _, _ = runtime.explain("tag:qwen", {})
    assert explained is not None and explained.strategy.name == "quality_optimized@budget-2/4"
    assert explained.strategy.weights["cost"] == pytest.approx(0.45)
    await runtime.shutdown()


async def test_a_plain_model_name_is_left_to_litellm_but_still_gets_headers() -> None:
    router, runtime, hook = stack()
    outcome = await router.call(hook, request("cheap-b"))
    assert outcome.served_by == "cheap-b"
    assert outcome.headers["x-router-strategy"] == "direct"
    await runtime.shutdown()


async def test_plain_names_skip_a_deployment_whose_rate_window_is_spent() -> None:
    router, runtime, hook = stack()
    spent = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "30s",
    }
    runtime.rate_windows.observe("free-a", spent, None)
    group = [d for d in router.model_list if d["model_info"]["id"] in ("free-a", "cheap-b")]
    kept = await hook.async_filter_deployments("qwen", group)
    assert [d["model_info"]["id"] for d in kept] == ["cheap-b"]
    explained, _, _ = runtime.explain("tag:qwen", {})
    assert explained is not None and "free-a" in {
        e.channel.id for e in explained.excluded if e.filter == "headroom"
    }
    await runtime.shutdown()


async def test_a_windows_last_request_goes_to_one_of_two_requests_routed_at_once() -> None:
    _router, runtime, hook = stack()
    one_left = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    runtime.rate_windows.observe("free-a", one_left, None)
    # Both routed before either reaches the Router's call: the first one's count must be seen.
    first = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    second = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert (first["model"], second["model"]) == ("free-a", "cheap-b")
    await runtime.shutdown()


async def test_a_request_refused_after_routing_leaves_the_window_as_it_was() -> None:
    _router, runtime, hook = stack({"budgets": {"global": {"day": 1e-9}, "degrade_from": None}})
    one_left = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    runtime.rate_windows.observe("dear-c", one_left, None)
    with pytest.raises(ProxyException, match="budget"):
        await hook.async_pre_call_hook(Auth(), None, request("tag:235b", max_tokens=5), "acompletion")
    # given back at the refusal itself, before (and whether or not) LiteLLM runs the failure hook
    assert runtime.rate_windows.describe("dear-c")[0]["remaining"] == 1
    await runtime.shutdown()


async def test_a_refusal_by_a_later_proxy_hook_is_not_held_against_the_channel() -> None:
    from fastapi import HTTPException

    router, runtime, hook = stack()
    one_left = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    runtime.rate_windows.observe("free-a", one_left, None)
    data = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert data["model"] == "free-a"
    # LiteLLM's own parallel-request limiter refuses the key after our hook: no channel is called.
    refusal = HTTPException(status_code=429, detail="max parallel request limit reached")
    assert await hook.async_post_call_failure_hook(data, refusal, Auth()) is None
    states = {c["id"]: c for c in runtime.admin.channels()}
    assert states["free-a"]["consecutive_failures"] == 0 and states["free-a"]["state"] == "closed"
    assert runtime.metrics.requests.labels("-", "rejected")._value.get() == 1
    assert runtime.rate_windows.describe("free-a")[0]["remaining"] == 1
    outcome = await router.call(hook, request())
    assert outcome.served_by == "free-a"
    await runtime.shutdown()


def info_of(router: FakeRouter, deployment_id: str) -> dict[str, Any]:
    return next(d for d in router.model_list if d["model_info"]["id"] == deployment_id)["model_info"]


async def test_malformed_requests_are_400s_that_never_reach_a_channel() -> None:
    router, runtime, hook = stack()
    for bad in ({"messages": "hello"}, {"stream": "yes"}, {"timeout": "abc"}, {"max_tokens": 10**400}):
        outcome = await router.call(hook, {**request(), **bad})
        assert outcome.status == 400 and outcome.tried == [], bad
    assert all(c["consecutive_failures"] == 0 and c["state"] == "closed" for c in runtime.admin.channels())
    assert (await router.call(hook, request())).served_by == "free-a"
    await runtime.shutdown()


async def test_a_half_open_probe_taken_by_a_refused_request_is_given_back() -> None:
    from fastapi import HTTPException

    router, runtime, hook = stack()
    breaker = runtime.health.book.breaker("free-a")
    breaker.state, breaker.reopen_at = "open", time.time() - 1  # its cooldown is over: one probe may go
    data = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert data["model"] == "free-a" and breaker.state == "half_open"
    refusal = HTTPException(status_code=429, detail="max parallel request limit reached")
    await hook.async_post_call_failure_hook(data, refusal, Auth())
    outcome = await router.call(hook, request())  # not skipped as "probe in flight" for 30 s
    assert outcome.served_by == "free-a" and breaker.state == "closed"
    await runtime.shutdown()


async def test_a_stream_broken_before_its_first_chunk_counts_and_blames_the_channel_called() -> None:
    router, runtime, hook = stack()
    one_left = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    for channel in ("free-a", "cheap-b"):
        runtime.rate_windows.observe(channel, one_left, None)
    data = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert data["model"] == "free-a"
    # free-a's stream breaks before its first chunk: the Router falls back with no failure hook.
    for channel in ("free-a", "cheap-b"):
        await hook.async_pre_call_deployment_hook(
            {**data, "model_info": info_of(router, channel)}, "acompletion"
        )
    spent = runtime.rate_windows.book.spent(time.time())
    assert {"free-a", "cheap-b"} <= set(spent)  # the channel being called holds its window's last request
    await hook.async_post_call_failure_hook(data, failure(500, "stream broke"), Auth())
    states = {c["id"]: c for c in runtime.admin.channels()}
    assert (states["free-a"]["consecutive_failures"], states["cheap-b"]["consecutive_failures"]) == (0, 1)
    assert runtime.rate_windows.book.spent(time.time()) == {}  # the request has ended
    assert runtime.metrics.requests.labels("cheap-b", "failed")._value.get() == 1
    await runtime.shutdown()


async def test_a_plain_names_failure_with_no_hook_is_its_deployments_not_a_rejection() -> None:
    router, runtime, hook = stack()
    data = await hook.async_pre_call_hook(Auth(), None, request("cheap-b"), "acompletion")
    await hook.async_pre_call_deployment_hook(
        {**data, "model_info": info_of(router, "cheap-b")}, "acompletion"
    )
    await hook.async_post_call_failure_hook(data, failure(500, "stream broke"), Auth())
    assert runtime.metrics.requests.labels("cheap-b", "failed")._value.get() == 1
    assert runtime.metrics.requests.labels("-", "rejected")._value.get() == 0
    await runtime.shutdown()


async def test_plain_names_skip_deployments_whose_breaker_is_open() -> None:
    router, runtime, hook = stack()
    router.answers("free-a", failure(401, "invalid api key"))
    await router.call(hook, request())
    group = [d for d in router.model_list if d["model_info"]["id"] in ("free-a", "cheap-b")]
    kept = await hook.async_filter_deployments("qwen", group)
    assert [d["model_info"]["id"] for d in kept] == ["cheap-b"]
    await runtime.shutdown()


async def test_a_client_key_limited_to_free_channels_never_reaches_a_paid_one() -> None:
    from router_ext.client_keys import KEY_ID_FIELD, AllowedModels, ClientKey

    router, runtime, hook = stack()
    import datetime as dt

    key = ClientKey(
        id="k1",
        name="alice",
        key_hash="h" * 64,
        key_prefix="sk-sr-abc",
        created_at=dt.datetime.now(tz=dt.UTC),
        models=AllowedModels.parse(["tag:free"]),
    )
    runtime.keys.put(key)
    router.answers("free-a", failure(500))
    outcome = await router.call(hook, request(), Auth(api_key=key.key_hash, metadata={KEY_ID_FIELD: "k1"}))
    assert outcome.tried == ["free-a"]
    assert outcome.status == 503
    await runtime.shutdown()


async def test_shutdown_leaves_no_background_task_running() -> None:
    import asyncio

    router, runtime, hook = stack(
        {"prices": {"windows": [{"channel": "openai", "start": "00:00", "end": "12:00", "factor": 0.5}]}}
    )
    before = asyncio.all_tasks()
    runtime.ensure_started()
    await router.call(hook, request())  # the first answer starts the rest of the start-up
    for _ in range(100):
        await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks() - before) >= 3  # probes, Redis-less sync, start-up, price windows
    await runtime.shutdown()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()
    await runtime.shutdown()  # twice is harmless


async def test_a_request_counts_against_its_daily_quota_before_the_client_can_send_the_next() -> None:
    router, runtime, hook = stack()
    router.model_list[0]["model_info"]["daily_requests"] = 1
    runtime.catalogue.invalidate()
    data = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert data["model"] == "free-a"
    from tests.unit.fake_router import Response, Usage

    await hook.async_post_call_response_headers_hook(
        data, Auth(), Response(Usage(1, 1, 2)), litellm_call_info={"model_id": "free-a"}
    )
    # The success event (LiteLLM runs it in the background) has not run yet: free-a is spent anyway.
    following = await hook.async_pre_call_hook(Auth(), None, request(), "acompletion")
    assert following["model"] == "cheap-b"
    await runtime.shutdown()


async def test_fast_failures_never_end_a_request_a_later_channel_can_answer() -> None:
    router, runtime, hook = stack({"health": {"max_attempts": 1}})
    router.answers("free-a", failure(401, "invalid api key"))
    router.answers("cheap-b", failure(429, "slow down", **{"retry-after": "30"}))
    outcome = await router.call(hook, request())
    assert outcome.served_by == "dear-c"  # two failed attempts, max_attempts 1: both were fast
    await runtime.shutdown()


async def test_past_the_deadline_the_rest_is_skipped_not_failed() -> None:
    router, runtime, hook = stack({"health": {"failover_deadline_s": 0.01}})

    def slow_500(_: dict[str, Any]) -> Reply:
        import time

        time.sleep(0.05)
        raise failure(500, "slow and broken")

    router.upstreams["free-a"] = slow_500
    outcome = await router.call(hook, request())
    assert outcome.status == 503
    detail = outcome.error.detail  # type: ignore[union-attr]
    assert [c["channel"] for c in detail["channels"]] == ["free-a"]  # the others were never called
    states = {c["id"]: c for c in runtime.admin.channels()}
    assert states["cheap-b"]["consecutive_failures"] == 0 and states["dear-c"]["consecutive_failures"] == 0
    await runtime.shutdown()
