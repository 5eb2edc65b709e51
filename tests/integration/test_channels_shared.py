"""Stored channels on PostgreSQL, shared by two replicas on one Redis: a channel added through
one replica routes on the other within about 2 s, a key removed on one is gone on both, and a
restart keeps everything."""

from __future__ import annotations

import time
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
    start_proxy,
    start_redis,
    start_replicas,
    start_simulator,
)

HERE = Path(__file__).parent
KEYS = ["sk-pool-1", "sk-shared-second-0002", "sk-shared-third-0003"]
SECRET = "a-secret-both-replicas-share-0001"  # like the master key: one value for every replica


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {"providers": [{"name": "pool", "models": ["qwen/qwen3-8b", "shared-model-9b"], "api_key": KEYS}]}
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[PostgresServer, RedisServer]]:
    postgres, redis = start_postgres(), start_redis()
    yield postgres, redis
    redis.stop()
    postgres.stop()


@pytest.fixture(scope="module")
def config(simulator: Simulator) -> Path:
    return render_config(HERE / "channels_config.yaml", simulator.ports)


def replica_env(services: tuple[PostgresServer, RedisServer]) -> dict[str, str]:
    postgres, redis = services
    return {"ROUTER_DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "SMART_ROUTER_SECRET_KEY": SECRET}


@pytest.fixture(scope="module")
def replicas(config: Path, services: tuple[PostgresServer, RedisServer]) -> Iterator[list[Proxy]]:
    # Side by side, as a compose file starts them: both create the store's tables at once.
    running = start_replicas(config, 2, replica_env(services))
    # Both past their staged start: the store and its channel sync start after a replica's first
    # answer (or an admin query like this one), so a replica that never served picks a change up
    # only once that start is done (~2 s of imports on a loaded box). The 2 s is about running replicas.
    for proxy in running:
        assert admin(proxy).get("/routing/channels/stored").status_code == 200
    yield running
    for proxy in running:
        proxy.stop()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def served_by(proxy: Proxy, model: str) -> str | None:
    try:
        answer = openai_client(proxy).chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    except openai.APIStatusError:
        return None
    return answer.headers["x-router-channel"]


def until(condition: object, seconds: float) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_channel_added_on_one_replica_routes_on_the_other_within_2_s(
    replicas: list[Proxy], simulator: Simulator
) -> None:
    first, second = replicas
    body = {
        "model_name": "shared-model-9b",
        "litellm_params": {
            "model": "openai/shared-model-9b",
            "api_base": f"http://127.0.0.1:{simulator.ports['pool']}/v1",
            "api_key": KEYS[1],
        },
        "model_info": {"id": "shared"},
    }
    created = admin(first).post("/routing/channels", json=body)
    assert created.status_code == 201, created.text
    assert served_by(first, "tag:shared") == "shared"  # at once where it was written
    waited = until(lambda: served_by(second, "tag:shared") == "shared", 3.0)
    assert waited < 2.5
    listed = admin(second).get("/routing/channels/stored").json()["channels"]
    assert [c["id"] for c in listed] == ["shared"] and KEYS[1] not in str(listed)


def test_a_key_removed_on_one_replica_is_gone_on_both(replicas: list[Proxy]) -> None:
    first, second = replicas
    added = admin(second).post("/routing/channels/shared/keys", json={"api_key": KEYS[2]}).json()
    pool = added["deployment_id"]
    until(lambda: pool in {c["id"] for c in admin(first).get("/routing/channels").json()["channels"]}, 3.0)
    assert admin(first).delete(f"/routing/channels/shared/keys/{added['id']}").status_code == 200
    until(
        lambda: pool not in {c["id"] for c in admin(second).get("/routing/channels").json()["channels"]}, 3.0
    )


def test_postgres_keeps_the_channels_over_a_restart_and_holds_no_key_in_clear(
    replicas: list[Proxy], config: Path, services: tuple[PostgresServer, RedisServer]
) -> None:
    master_key = replicas[0].master_key
    for proxy in replicas:
        proxy.stop()
    replicas.clear()
    restarted = start_proxy(config, env={**replica_env(services), "LITELLM_MASTER_KEY": master_key})
    replicas.append(restarted)
    assert served_by(restarted, "tag:shared") == "shared"
    dump = services[0].sql("SELECT * FROM stored_channel_keys; SELECT * FROM stored_channels;")
    assert "v1:" in dump
    for key in KEYS[1:]:
        assert key not in dump
