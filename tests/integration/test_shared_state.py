"""Two proxy replicas on one real Redis: strategy, breakers and dead keys are shared."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from scripts.stack import (
    Proxy,
    RedisServer,
    Simulator,
    openai_client,
    render_config,
    start_redis,
    start_replicas,
    start_simulator,
)

HERE = Path(__file__).parent
HELLO = [{"role": "user", "content": "hello"}]
PROVIDERS = {
    "providers": [
        {"name": "flaky", "models": ["m-flaky"], "api_key": "sk-flaky"},
        {"name": "steady", "models": ["m-steady", "m-spare"], "api_key": "sk-steady"},
        {
            "name": "limited",
            "models": ["m-limited"],
            "api_key": "sk-limited",
            "rate_limit": {"requests": 3, "window_s": 60, "style": "openai"},
        },
    ]
}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def replicas(simulator: Simulator, redis_server: RedisServer) -> Iterator[tuple[Proxy, Proxy]]:
    config = render_config(HERE / "shared_config.yaml", simulator.ports)
    first, second = start_replicas(config, 2, {"REDIS_URL": redis_server.url})
    for replica in (first, second):  # the first request to a fresh proxy builds its route table (~1.5 s)
        assert admin(replica).get("/routing/strategy").status_code == 200
    yield first, second
    first.stop()
    second.stop()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def client(proxy: Proxy) -> openai.OpenAI:
    return openai_client(proxy)


def state(proxy: Proxy, channel_id: str) -> str:
    channels = admin(proxy).get("/routing/channels").json()["channels"]
    return next(c["state"] for c in channels if c["id"] == channel_id)


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def served(proxy: Proxy, model: str) -> str:
    raw = client(proxy).chat.completions.with_raw_response.create(model=model, messages=HELLO)
    return str(raw.headers["x-router-channel"])


def test_a_strategy_switched_on_one_replica_is_used_by_the_other(replicas: tuple[Proxy, Proxy]) -> None:
    first, second = replicas
    assert admin(first).put("/routing/strategy", json={"strategy": "quality_optimized"}).status_code == 200
    took = wait_for(
        lambda: admin(second).get("/routing/strategy").json()["strategy"] == "quality_optimized", 1.0
    )
    raw = client(second).chat.completions.with_raw_response.create(model="tag:shape", messages=HELLO)
    assert raw.headers["x-router-strategy"] == "quality_optimized"
    admin(second).put("/routing/strategy", json={"strategy": "cost_first"})
    wait_for(lambda: admin(first).get("/routing/strategy").json()["strategy"] == "cost_first", 1.0)
    print(f"strategy visible on the other replica after {took * 1000:.0f} ms")


def test_a_breaker_opened_through_one_replica_is_honoured_by_the_other(
    replicas: tuple[Proxy, Proxy], simulator: Simulator
) -> None:
    first, second = replicas
    simulator.control(
        "flaky",
        {"reset": True, "steps": [{"status": 500, "body": {"error": {"message": "boom"}}, "times": 2}]},
    )
    assert served(first, "tag:shape") == "steady"
    assert served(first, "tag:shape") == "steady"
    assert state(first, "flaky") == "open"
    wait_for(lambda: state(second, "flaky") == "open", 1.0)
    before = simulator.control("flaky")["requests"].get("m-flaky", 0)
    assert [served(second, "tag:shape") for _ in range(3)] == ["steady"] * 3
    assert simulator.control("flaky")["requests"].get("m-flaky", 0) == before
    admin(second).post("/routing/channels/flaky/reset")
    wait_for(lambda: state(first, "flaky") == "closed", 1.0)


def test_a_dead_key_found_by_one_replica_is_out_on_the_other(replicas: tuple[Proxy, Proxy]) -> None:
    first, second = replicas
    assert served(first, "tag:keys") == "goodkey"  # deadkey (cheapest) answered 401, failover
    assert state(first, "deadkey") == "disabled"
    wait_for(lambda: state(second, "deadkey") == "disabled", 1.0)
    assert served(second, "tag:keys") == "goodkey"
    admin(second).post("/routing/channels/deadkey/enable")
    wait_for(lambda: state(first, "deadkey") == "closed", 1.0)


def test_redis_going_away_never_fails_a_request_and_state_resyncs(
    replicas: tuple[Proxy, Proxy], redis_server: RedisServer, simulator: Simulator
) -> None:
    first, second = replicas
    redis_server.stop()
    for _ in range(5):
        assert served(first, "tag:shape") in ("flaky", "steady")
        assert served(second, "tag:shape") in ("flaky", "steady")
    assert admin(first).get("/routing/channels").status_code == 200
    # a breaker opened while Redis is away stays local ...
    simulator.control(
        "flaky",
        {"reset": True, "steps": [{"status": 500, "body": {"error": {"message": "boom"}}, "times": 2}]},
    )
    served(first, "tag:shape")
    served(first, "tag:shape")
    assert state(first, "flaky") == "open"
    time.sleep(0.5)
    assert state(second, "flaky") == "closed"
    # ... and reaches the other replica once Redis is back
    redis_server.start()
    wait_for(lambda: state(second, "flaky") == "open", 3.0)
    # said once per component (shared state, shared spend), not once per request
    assert first.log().count("serving on local state until it returns") == 1
    assert first.log().count("spend totals are local for now") <= 1
    assert "Redis is back" in first.log()
    admin(first).post("/routing/channels/flaky/reset")


def test_each_scheduled_firing_runs_on_one_replica_only(replicas: tuple[Proxy, Proxy]) -> None:
    started = time.time()
    time.sleep(7)  # three or four firings of the 2-second discovery job
    jobs = [admin(r).get("/routing/jobs").json()["jobs"]["discovery"] for r in replicas]
    # Cron firings fall on whole seconds (the run at each replica's start does not). Earlier
    # firings are left out: while Redis was down (an earlier test) both replicas ran them.
    fired = [{t for t in job["run_times"] if t == int(t) and t > started} for job in jobs]
    assert not fired[0] & fired[1], "a firing ran on both replicas"
    union = sorted(fired[0] | fired[1])
    assert len(union) >= 3
    assert all(b - a == 2 for a, b in itertools.pairwise(union)), f"a firing was lost: {union}"
    assert sum(job["skipped"] for job in jobs) >= 3  # both replicas were up: the lock was contended


def test_a_rate_limit_window_learned_by_one_replica_holds_on_the_other(
    replicas: tuple[Proxy, Proxy], simulator: Simulator
) -> None:
    first, second = replicas
    served = [
        client(first)
        .chat.completions.with_raw_response.create(model="tag:limits", messages=HELLO)
        .headers["x-router-channel"]
        for _ in range(3)
    ]
    assert served == ["limited"] * 3  # its window: spent, as its answers said
    deadline = time.monotonic() + 3
    while True:  # the second replica never asked it, yet knows within a sync or two
        limits = {
            c["id"]: c["rate_limits"] for c in admin(second).get("/routing/channels").json()["channels"]
        }
        if limits["limited"] and limits["limited"][0]["remaining"] == 0:
            break
        assert time.monotonic() < deadline, "the window did not reach the other replica"
        time.sleep(0.05)
    answer = client(second).chat.completions.with_raw_response.create(model="tag:limits", messages=HELLO)
    assert answer.headers["x-router-channel"] == "spare" and answer.headers["x-router-attempts"] == "1"
    upstream = httpx.get(f"http://127.0.0.1:{simulator.ports['limited']}/_control").json()["requests"]
    assert upstream.get("429", 0) == 0 and upstream["m-limited"] == 3


def capped_remaining(proxy: Proxy) -> int | None:
    """The configured window's count (LiteLLM also announces its own per-process count of an
    `rpm` in rate-limit headers: learned, and not what this test is about)."""
    channels = {c["id"]: c for c in admin(proxy).get("/routing/channels").json()["channels"]}
    counted = [w for w in channels["capped"]["rate_limits"] if w["source"] == "config" and w["reset_at"]]
    return int(counted[0]["remaining"]) if counted else None


def test_a_configured_cap_is_counted_by_all_replicas_together(replicas: tuple[Proxy, Proxy]) -> None:
    first, second = replicas
    # Both replicas count into the same clock-aligned minute (a window that turns mid-test is
    # a fresh one: wait for the next minute when too close to its end).
    while time.time() % 60 > 45:
        time.sleep(0.5)

    def serve(replica: Proxy) -> str:
        answer = client(replica).chat.completions.with_raw_response.create(model="tag:caps", messages=HELLO)
        return str(answer.headers["x-router-channel"])

    assert [serve(first), serve(first), serve(second), serve(second)] == ["capped"] * 4
    deadline = time.monotonic() + 3
    while capped_remaining(first) != 0 or capped_remaining(second) != 0:  # each saw the other's two
        assert time.monotonic() < deadline, (capped_remaining(first), capped_remaining(second))
        time.sleep(0.05)
    assert serve(first) == "capped-spare" and serve(second) == "capped-spare"


def test_feedback_given_on_one_replica_moves_the_quality_on_the_other(replicas: tuple[Proxy, Proxy]) -> None:
    first, second = replicas
    prompt = "Implement a thread-safe LRU cache in Python with unit tests and explain the locking trade-offs."
    raw = client(first).chat.completions.with_raw_response.create(
        model="tag:caps", messages=[{"role": "user", "content": prompt}]
    )
    request_id, channel = raw.headers["x-router-request-id"], raw.headers["x-router-channel"]
    scored = admin(first).post("/routing/feedback", json={"request_id": request_id, "score": 0.25})
    assert scored.status_code == 200, scored.text

    def learned_on_second() -> dict | None:
        explained = (
            admin(second).get("/routing/explain", params={"model": "tag:caps", "prompt": prompt}).json()
        )
        return next((c["learned"] for c in explained["ranked"] if c["channel"] == channel), None)

    took = wait_for(lambda: learned_on_second() is not None, 5.0)
    learned = learned_on_second()
    assert learned is not None and (learned["good"], learned["bad"]) == (0.25, 0.75)
    print(f"feedback visible on the other replica after {took * 1000:.0f} ms")
