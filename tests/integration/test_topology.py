"""Two `smart-router serve` replicas on one real Redis and one real PostgreSQL (the compose.yaml
topology, on 127.0.0.1): strategy, spend and jobs are shared; a stopped replica loses no record."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from scripts.stack import (
    PostgresServer,
    Proxy,
    RedisServer,
    Simulator,
    openai_client,
    render_config,
    start_postgres,
    start_redis,
    start_replicas,
    start_simulator,
)

HERE = Path(__file__).parent
HELLO = [{"role": "user", "content": "hello there"}]
COST = 2 * 1.0e-6 + 8 * 2.0e-6
PROVIDERS = {"providers": [{"name": "paid", "models": ["m-priced", "m-spare"], "api_key": "sk-paid"}]}


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[RedisServer, PostgresServer, Simulator]]:
    redis, postgres, simulator = start_redis(), start_postgres(), start_simulator(PROVIDERS)
    yield redis, postgres, simulator
    simulator.stop()
    postgres.stop()
    redis.stop()


@pytest.fixture(scope="module")
def replicas(services: tuple[RedisServer, PostgresServer, Simulator]) -> Iterator[list[Proxy]]:
    redis, postgres, simulator = services
    config = render_config(HERE / "topology_config.yaml", simulator.ports)
    # One SMART_ROUTER_SECRET_KEY for both, like the master key (as compose.yaml passes them).
    env = {
        "REDIS_URL": redis.url,
        "ROUTER_DATABASE_URL": postgres.url,
        "SMART_ROUTER_SECRET_KEY": "topology-secret-0123456789",
    }
    running = start_replicas(config, 2, env)
    for replica in running:  # started, so that no test measures a replica still loading its store
        replica.wait_store()
    yield running
    for replica in running:
        replica.stop()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def call(proxy: Proxy, session: str):  # type: ignore[no-untyped-def]
    return openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:topo", messages=HELLO, max_tokens=8, extra_headers={"x-session-id": session}
    )


def test_a_strategy_switched_on_one_replica_is_used_by_the_other_within_a_second(
    replicas: list[Proxy],
) -> None:
    first, second = replicas
    assert admin(first).put("/routing/strategy", json={"strategy": "quality_optimized"}).status_code == 200
    started = time.monotonic()
    while admin(second).get("/routing/strategy").json()["strategy"] != "quality_optimized":
        assert time.monotonic() - started < 1.0, "the other replica did not switch within a second"
        time.sleep(0.05)
    assert call(second, "strategy-check").headers["x-router-strategy"] == "quality_optimized"
    admin(first).put("/routing/strategy", json={"strategy": "cost_first"})
    time.sleep(0.6)


def test_session_totals_and_budgets_count_requests_from_both_replicas(replicas: list[Proxy]) -> None:
    first, second = replicas
    session = f"topo-{uuid.uuid4().hex[:6]}"
    totals = [
        float(call(proxy, session).headers["x-router-session-cost-usd"]) for proxy in (first, second, first)
    ]
    assert totals == [pytest.approx(COST), pytest.approx(2 * COST), pytest.approx(3 * COST)]
    with pytest.raises(openai.RateLimitError) as refused:  # the 4th would break 3.5 requests' budget
        call(second, session)
    assert refused.value.response.json()["error"]["type"] == "budget_exceeded"


def test_each_job_firing_runs_on_one_replica(replicas: list[Proxy]) -> None:
    started = time.time()
    time.sleep(5)
    runs = [
        {
            t
            for t in admin(r).get("/routing/jobs").json()["jobs"]["discovery"]["run_times"]
            if t == int(t) and t > started
        }
        for r in replicas
    ]
    assert runs[0] | runs[1] and not runs[0] & runs[1]


def records_of(proxy: Proxy, prefix: str) -> int:
    response = admin(proxy).get("/routing/records", params={"limit": 500})
    if response.status_code != 200:
        return -1
    return sum(1 for r in response.json()["records"] if str(r["session"]).startswith(prefix))


def test_stopping_a_replica_loses_no_record(replicas: list[Proxy]) -> None:
    first, second = replicas
    prefix = f"kill-{uuid.uuid4().hex[:6]}"
    for index in range(20):  # one session each: the session budget is small
        call(first if index % 2 else second, f"{prefix}-{index}")
    first.process.send_signal(signal.SIGTERM)  # what an orchestrator does to a replica
    first.process.wait(timeout=30)
    assert call(second, f"{prefix}-last").parse().choices[0].message.content  # the other one still serves
    deadline = time.monotonic() + 15
    while records_of(second, prefix) != 21 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert records_of(second, prefix) == 21  # all in the shared PostgreSQL
