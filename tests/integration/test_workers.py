"""`smart-router serve --workers 2` with no Redis configured: the workers share state through
the embedded server, so an admin change through any worker and a breaker opened by one hold on
every worker, and each record lands once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from scripts.stack import ROOT, Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {"providers": [{"name": "pool", "models": ["w-model", "w-best"], "api_key": "sk-good"}]}
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(
        render_config(HERE / "workers_config.yaml", simulator.ports),
        args=["--workers", "2"],
        # each worker starts 8 s late, past uvicorn's default 5 s health check
        env={
            "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE / 'slow_spawn'}",
            "SLOW_SPAWN_S": "8",
            # connections the spread test counts stay open while it counts them (uvicorn's 5 s
            # default could close some first on a slow box); clients here expire theirs at 2 s
            "KEEPALIVE_TIMEOUT": "60",
        },
    )
    running.wait_for_workers(2, timeout=90)  # the second one starts on its own time
    yield running
    running.stop()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def answers(proxy: Proxy, count: int) -> list[httpx.Headers]:
    def one(_: int) -> httpx.Headers:
        raw = openai_client(proxy).chat.completions.with_raw_response.create(
            model="tag:w", messages=[{"role": "user", "content": "hi"}]
        )
        return raw.headers

    with ThreadPoolExecutor(4) as pool:  # several connections: the kernel spreads them over the workers
        return list(pool.map(one, range(count)))


def worker_pids(proxy: Proxy) -> set[str]:
    return {
        line.split("Started server process [")[1].split("]")[0]
        for line in proxy.log().splitlines()
        if "Started server process [" in line
    }


def test_two_workers_serve_and_share_one_embedded_state_server(proxy: Proxy) -> None:
    assert "share state through an embedded server" in proxy.log()
    assert len(worker_pids(proxy)) == 2, proxy.log()[-2000:]
    assert "died" not in proxy.log()  # no worker was killed while it started


def test_connections_opened_together_are_spread_over_the_workers(proxy: Proxy) -> None:
    # Clients that keep their connections (agents, SDK pools) open them together. On uvicorn's one
    # shared socket the first worker to wake accepted all of them (18 and 20 of 20 seen): two
    # workers served like one. With a socket per worker the kernel spreads them by address.
    count = 24
    barrier = threading.Barrier(count)
    clients = [httpx.Client(base_url=proxy.base_url, timeout=60) for _ in range(count)]

    def connect(client: httpx.Client) -> int:
        barrier.wait(timeout=30)
        return client.get("/health/liveliness").status_code

    try:
        with ThreadPoolExecutor(count) as pool:
            assert set(pool.map(connect, clients)) == {200}
        port = int(proxy.base_url.rsplit(":", 1)[1])
        held = {
            pid: sum(
                1
                for c in psutil.Process(int(pid)).net_connections(kind="tcp")
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
            )
            for pid in worker_pids(proxy)
        }
    finally:
        for client in clients:
            client.close()
    assert sum(held.values()) == count, held
    # by address: 12 each on average; fewer than 4 on one worker is a 1-in-3,000 draw
    assert min(held.values()) >= 4, held


def test_a_breaker_opened_by_one_worker_holds_on_every_worker(proxy: Proxy, simulator: Simulator) -> None:
    # w-dead is the cheapest and its key is revoked: the first worker to try it disables it
    first = answers(proxy, 8)
    assert {h["x-router-channel"] for h in first} == {"w-good"}
    deadline = time.monotonic() + 5
    while True:  # the key's state as every worker sees it (reads land on either)
        states = {
            c["state"]
            for _ in range(6)
            for c in admin(proxy).get("/routing/channels").json()["channels"]
            if c["id"] == "w-dead"
        }
        if states == {"disabled"}:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    before = (
        httpx.get(f"http://127.0.0.1:{simulator.ports['pool']}/_control")
        .json()["requests"]
        .get("key:...0000", 0)
    )
    later = answers(proxy, 20)
    assert all(h["x-router-attempts"] == "1" for h in later)
    after = (
        httpx.get(f"http://127.0.0.1:{simulator.ports['pool']}/_control")
        .json()["requests"]
        .get("key:...0000", 0)
    )
    assert after == before  # no worker asked the dead key again


def test_a_strategy_switched_through_one_worker_holds_on_all_within_a_second(proxy: Proxy) -> None:
    assert admin(proxy).put("/routing/strategy", json={"strategy": "quality_optimized"}).status_code == 200
    switched = time.monotonic()
    while True:
        seen = {h["x-router-strategy"] for h in answers(proxy, 8)}
        if seen == {"quality_optimized"}:
            break
        assert time.monotonic() - switched < 3.0, seen
    assert time.monotonic() - switched < 2.0
    assert {h["x-router-channel"] for h in answers(proxy, 8)} == {"w-best"}
    admin(proxy).put("/routing/strategy", json={"strategy": "cost_first"})


def test_each_record_lands_once(proxy: Proxy) -> None:
    served = answers(proxy, 10)
    ids = {h["x-router-request-id"] for h in served}
    deadline = time.monotonic() + 10
    while True:
        records = admin(proxy).get("/routing/records", params={"limit": 500}).json()["records"]
        found = [r["request_id"] for r in records if r["request_id"] in ids]
        if len(set(found)) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(found) == sorted(ids)  # every one, none twice


def test_a_dead_workers_share_of_new_connections_goes_to_the_live_one(proxy: Proxy) -> None:
    # Last in this module: it kills a worker. Its socket goes with it, so while the replacement
    # starts (8 s late here, as on a slow machine) no new connection waits for it.
    before = worker_pids(proxy)
    victim = min(before, key=int)
    os.kill(int(victim), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while f"Child process [{victim}] died" not in proxy.log():
        assert time.monotonic() < deadline, proxy.log()[-2000:]
        time.sleep(0.1)

    def fresh_connection(_: int) -> float:
        began = time.monotonic()
        with httpx.Client(base_url=proxy.base_url, timeout=5) as client:
            assert client.get("/health/liveliness").status_code == 200
        return time.monotonic() - began

    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(fresh_connection, range(24)))
    assert len(worker_pids(proxy) - before) == 0  # the replacement was still starting
    assert max(waits) < 3.0, waits
    deadline = time.monotonic() + 120
    while len(worker_pids(proxy) - before) < 1:  # and it serves in its turn
        assert time.monotonic() < deadline, proxy.log()[-2000:]
        time.sleep(0.2)


PROBE = """
import redis, sys
from router_ext.state_server import start_state_server
url, server = start_state_server()
client = redis.Redis.from_url(url)
client.hset("h", mapping={"a": "1"})
print(type(server).__name__, client.hgetall("h"))
server.shutdown()
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [(os.environ["PATH"], "_RedisProcess"), ("/nonexistent", "TcpFakeServer")],
    ids=["redis-server installed", "nothing installed"],
)
def test_the_embedded_state_server_is_redis_when_installed_else_fakeredis(path: str, kind: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PATH": path, "PYTHONPATH": str(HERE.parents[1])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [kind, "{b'a':", "b'1'}"]
