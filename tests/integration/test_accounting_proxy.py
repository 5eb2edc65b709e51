"""Cost, sessions, budgets and records through the real proxy (SQLite, then PostgreSQL)."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa

from scripts.stack import (
    PostgresServer,
    Proxy,
    Simulator,
    openai_client,
    render_config,
    start_postgres,
    start_proxy,
    start_simulator,
)

HERE = Path(__file__).parent
HELLO = [{"role": "user", "content": "hello there"}]  # the simulator counts 2 prompt tokens
PROVIDERS = {"providers": [{"name": "paid", "models": ["m-priced", "m-gratis"], "api_key": "sk-paid"}]}
COST = 2 * 1.0e-6 + 8 * 2.0e-6  # 2 prompt + 8 completion tokens (max_tokens=8)


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/router.db"


@pytest.fixture(scope="module")
def proxy(simulator: Simulator, sqlite_url: str) -> Iterator[Proxy]:
    config = render_config(HERE / "accounting_config.yaml", simulator.ports)
    running = start_proxy(config, env={"ROUTER_DATABASE_URL": sqlite_url})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def call(client: openai.OpenAI, session: str, model: str = "tag:acct"):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(
        model=model, messages=HELLO, max_tokens=8, extra_headers={"x-session-id": session}
    )


def wait_records(admin: httpx.Client, session: str, expected: int, seconds: float = 10) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        response = admin.get("/routing/records", params={"session": session, "limit": 100})
        if response.status_code == 503:  # the database is still coming back
            assert response.json()["error"]["type"] == "store_unavailable"
            records: list[dict] = []
        else:
            records = response.json()["records"]
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def test_cost_headers_are_tokens_times_configured_prices(proxy: Proxy) -> None:
    raw = call(openai_client(proxy), f"s-{uuid.uuid4().hex[:6]}")
    completion = raw.parse()
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 8)
    assert float(raw.headers["x-router-cost-usd"]) == pytest.approx(COST)
    assert float(raw.headers["x-router-session-cost-usd"]) == pytest.approx(COST)


def test_a_free_channel_costs_zero(proxy: Proxy) -> None:
    raw = call(openai_client(proxy), f"s-{uuid.uuid4().hex[:6]}", model="tag:gratis")
    assert float(raw.headers["x-router-cost-usd"]) == 0


def test_session_totals_add_up_and_the_budget_stops_the_next_call(proxy: Proxy, admin: httpx.Client) -> None:
    client = openai_client(proxy)
    session = f"s-{uuid.uuid4().hex[:6]}"
    totals = [float(call(client, session).headers["x-router-session-cost-usd"]) for _ in range(2)]
    assert totals == [pytest.approx(COST), pytest.approx(2 * COST)]
    with pytest.raises(openai.RateLimitError) as raised:
        call(client, session)
    error = raised.value.response.json()["error"]
    assert error["type"] == "budget_exceeded"
    assert "session daily budget" in error["message"] and "resets at" in error["message"]
    assert raised.value.response.headers["x-router-status"] == "budget-exceeded"
    other = call(client, f"s-{uuid.uuid4().hex[:6]}")  # another session is not affected
    assert other.parse().choices[0].message.content
    records = wait_records(admin, session, 3)
    assert [r["status"] for r in records] == ["rejected", "success", "success"]
    assert records[0]["error_class"] == "budget_exceeded"
    assert sum(r["cost_usd"] for r in records) == pytest.approx(2 * COST)
    assert records[1]["deployment_id"] == "priced" and records[1]["strategy"] == "cost_first"


def test_a_stream_is_recorded_when_it_ends(proxy: Proxy, admin: httpx.Client) -> None:
    session = f"s-{uuid.uuid4().hex[:6]}"
    with openai_client(proxy).chat.completions.with_streaming_response.create(
        model="tag:acct",
        messages=HELLO,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-session-id": session},
    ) as response:
        chunks = list(response.parse())
    assert any(c.usage for c in chunks)
    (record,) = wait_records(admin, session, 1)
    assert (record["prompt_tokens"], record["completion_tokens"]) == (2, 8)
    assert record["cost_usd"] == pytest.approx(COST)
    assert record["ttft_ms"] is not None and record["latency_ms"] >= record["ttft_ms"]


def test_stats_and_bad_parameters(admin: httpx.Client) -> None:
    body = admin.get("/routing/stats", params={"period": "week"}).json()
    assert body["totals"]["requests"] >= 1
    assert {"by_model", "by_channel", "top_models", "top_channels", "free_share"} <= set(body)
    bad = admin.get("/routing/stats", params={"period": "year"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"
    bad = admin.get("/routing/records", params={"limit": "lots"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
    assert admin.get("/routing/records", params={"limit": "0"}).status_code == 400


def test_records_are_flushed_when_the_proxy_stops(simulator: Simulator, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/stop.db"
    config = render_config(
        HERE / "accounting_config.yaml", simulator.ports, extra={"smart_router": {"strategy": "cost_first"}}
    )
    proxy = start_proxy(config, env={"ROUTER_DATABASE_URL": url})
    client = openai_client(proxy)
    for _ in range(20):
        call(client, "stopping")
    proxy.process.send_signal(signal.SIGTERM)
    proxy.process.wait(timeout=30)
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM request_records")).scalar() == 20


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


def test_postgres_stopped_mid_run_loses_no_record(simulator: Simulator, postgres: PostgresServer) -> None:
    config = render_config(
        HERE / "accounting_config.yaml", simulator.ports, extra={"smart_router": {"strategy": "cost_first"}}
    )
    proxy = start_proxy(config, env={"ROUTER_DATABASE_URL": postgres.url})
    try:
        client = openai_client(proxy)
        for _ in range(20):
            call(client, "pg-run")
        postgres.stop()
        for _ in range(20):  # served while the database is down
            assert call(client, "pg-run").parse().choices[0].message.content
        postgres.start()
        admin = httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"})
        records = wait_records(admin, "pg-run", 40, seconds=30)
        assert len(records) == 40
        assert "database unreachable" in proxy.log() and "database is back" in proxy.log()
    finally:
        proxy.stop()


def test_a_channel_at_its_daily_quota_is_skipped(proxy: Proxy, admin: httpx.Client) -> None:
    client = openai_client(proxy)
    served = [call(client, f"q-{i}", model="tag:quota").headers["x-router-channel"] for i in range(4)]
    assert served == ["tiny", "tiny", "spare", "spare"]
    tiny = next(c for c in admin.get("/routing/channels").json()["channels"] if c["id"] == "tiny")
    assert tiny["quota_requests_left"] == 0
    explain = admin.get("/routing/explain", params={"model": "tag:quota"}).json()
    assert {"channel": "tiny", "filter": "quota", "reason": "daily request quota of 2 reached"} in explain[
        "excluded"
    ]
