"""Cost, sessions, budgets and records through the real proxy (SQLite, then PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
def probe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe") / "spend_logs.jsonl"


@pytest.fixture(scope="module")
def proxy(simulator: Simulator, sqlite_url: str, probe_file: Path) -> Iterator[Proxy]:
    config = render_config(HERE / "accounting_config.yaml", simulator.ports)
    running = start_proxy(config, env={"ROUTER_DATABASE_URL": sqlite_url, "SPEND_LOG_PROBE": str(probe_file)})
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


def test_a_restarted_proxy_counts_this_months_spend_from_its_first_request(
    simulator: Simulator, tmp_path: Path
) -> None:
    """The store starts late (after the first answer) unless budgets are configured: a budget
    check must not pass on a restarted proxy before the month's spend is read back."""
    url = f"sqlite+aiosqlite:///{tmp_path}/restart.db"
    config = render_config(HERE / "accounting_config.yaml", simulator.ports)
    session = f"restart-{uuid.uuid4().hex[:6]}"
    proxy = start_proxy(config, env={"ROUTER_DATABASE_URL": url})
    try:
        for _ in range(2):
            call(openai_client(proxy), session)
    finally:
        proxy.stop()
    again = start_proxy(config, env={"ROUTER_DATABASE_URL": url})
    try:
        with pytest.raises(openai.RateLimitError) as refused:
            call(openai_client(again), session)
        assert refused.value.response.json()["error"]["type"] == "budget_exceeded"
    finally:
        again.stop()


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
        proxy.wait_store()  # the outage must hit a running store
        postgres.stop()
        for _ in range(20):  # served while the database is down
            assert call(client, "pg-run").parse().choices[0].message.content
        deadline = time.monotonic() + 15  # the writer tries every 0.5 s: let it meet the outage
        while "database unreachable" not in proxy.log() and time.monotonic() < deadline:
            time.sleep(0.1)
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


def test_the_routing_outcome_reaches_litellm_spend_log_metadata(proxy: Proxy, probe_file: Path) -> None:
    raw = call(openai_client(proxy), f"s-{uuid.uuid4().hex[:6]}")
    request_id = raw.headers["x-router-request-id"]
    deadline = time.monotonic() + 10
    entry = None
    while entry is None and time.monotonic() < deadline:
        lines = probe_file.read_text().splitlines() if probe_file.exists() else []
        entry = next(
            (e for e in map(json.loads, lines) if e and e["smart_router"]["request_id"] == request_id), None
        )
        time.sleep(0.1)
    assert entry is not None, "LiteLLM's loggers never received our routing metadata"
    outcome = entry["smart_router"]
    assert (outcome["channel"], outcome["strategy"], outcome["attempts"]) == ("priced", "cost_first", 1)
    assert outcome["cost_usd"] == pytest.approx(COST)
    assert outcome["score"] == pytest.approx(float(raw.headers["x-router-score"]), abs=1e-4)


def chat(proxy: Proxy, headers: dict[str, str]) -> httpx.Response:
    body = {"model": "tag:acct", "messages": HELLO, "max_tokens": 8}
    return httpx.post(f"{proxy.base_url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_a_request_without_a_valid_key_is_a_clear_401(proxy: Proxy) -> None:
    missing = chat(proxy, {})
    assert missing.status_code == 401, missing.text  # LiteLLM alone answers 500 without its database
    assert "missing API key" in missing.json()["error"]["message"]
    wrong = chat(proxy, {"Authorization": "Bearer sk-sr-not-a-key"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["error"]["message"]
    assert "sk-sr-not-a-key" not in proxy.log()


def test_client_keys_budgets_allowed_models_and_revocation(proxy: Proxy, admin: httpx.Client) -> None:
    created = admin.post(
        "/routing/keys",
        json={"name": "alice", "budget_day_usd": 2.5 * COST, "models": ["tag:acct", "gratis"]},
    )
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    assert key.startswith("sk-sr-")
    listing = admin.get("/routing/keys").text
    assert key not in listing and hashlib.sha256(key.encode()).hexdigest() not in listing
    client = openai_client(proxy, api_key=key)

    for _ in range(2):
        assert call(client, f"a-{uuid.uuid4().hex[:6]}").headers["x-router-channel"] == "priced"
    with pytest.raises(openai.RateLimitError) as raised:
        call(client, f"a-{uuid.uuid4().hex[:6]}")
    error = raised.value.response.json()["error"]
    assert error["type"] == "budget_exceeded" and "key daily budget for key 'alice'" in error["message"]
    assert call(client, "a-free", model="gratis").headers["x-router-cost-usd"] == "0"  # free still fits
    alice = next(k for k in admin.get("/routing/keys").json()["keys"] if k["id"] == key_id)
    assert alice["spent_today_usd"] == pytest.approx(2 * COST)

    with pytest.raises(openai.PermissionDeniedError) as denied:
        call(client, "a-x", model="tiny")
    assert denied.value.response.json()["error"]["type"] == "model_not_allowed"
    assert "may use only: tag:acct, gratis" in denied.value.response.json()["error"]["message"]
    with pytest.raises(openai.PermissionDeniedError):
        call(client, "a-x", model="tag:quota")  # matches only channels the key may not use
    narrowed = call(client, "a-auto", model="auto")  # narrowed to what the key may use
    assert narrowed.headers["x-router-channel"] in {"priced", "gratis"}
    assert (
        httpx.get(
            f"{proxy.base_url}/routing/strategy", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 401
    )
    assert (
        httpx.get(f"{proxy.base_url}/model/info", headers={"Authorization": f"Bearer {key}"}).status_code
        == 403
    )

    revoked = admin.delete(f"/routing/keys/{key_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    with pytest.raises(openai.AuthenticationError) as refused:
        call(client, "a-late", model="gratis")
    assert "was revoked" in refused.value.response.json()["error"]["message"]
    assert admin.delete("/routing/keys/nope").status_code == 404
    bad = admin.post("/routing/keys", json={"name": "x", "models": ["tag:>=abc"]})
    assert bad.status_code == 400 and "size filter" in bad.json()["error"]["message"]
    assert admin.post("/routing/keys", json={"name": "x", "budget_day_usd": -1}).status_code == 400


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router_ext.cli", "keys", *args], capture_output=True, text=True, timeout=60
    )


def test_concurrent_requests_do_not_overshoot_a_key_budget(
    proxy: Proxy, admin: httpx.Client, simulator: Simulator
) -> None:
    budget = 2.5 * COST
    created = admin.post("/routing/keys", json={"name": "carol", "budget_day_usd": budget})
    assert created.status_code == 201, created.text
    client = openai_client(proxy, api_key=created.json()["key"])
    simulator.control("paid", {"steps": [{"delay": 1.0, "times": 6}]})  # all six in flight at once
    try:
        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(lambda i: _outcome(client, f"c-{i}"), range(6)))
    finally:
        simulator.control("paid", {"reset": True})
    assert outcomes.count("ok") >= 1 and outcomes.count("budget_exceeded") >= 1, outcomes
    assert set(outcomes) <= {"ok", "budget_exceeded"}, outcomes
    carol = next(k for k in admin.get("/routing/keys").json()["keys"] if k["name"] == "carol")
    # each admitted request's estimate was held while it ran: six admitted at once spent 6x
    assert carol["spent_today_usd"] <= budget
    assert carol["spent_today_usd"] == pytest.approx(outcomes.count("ok") * COST)


def _outcome(client: openai.OpenAI, session: str) -> str:
    try:
        call(client, session)
    except openai.RateLimitError as refused:
        return str(refused.response.json()["error"]["type"])
    return "ok"


def test_a_key_from_the_cli_works_at_once_and_its_revocation_within_seconds(
    proxy: Proxy, sqlite_url: str
) -> None:
    made = cli("--database-url", sqlite_url, "create", "--name", "bob", "--models", "tag:gratis")
    assert made.returncode == 0, made.stderr
    key = next(line.split("key:")[1].strip() for line in made.stdout.splitlines() if "key:" in line)
    key_id = made.stdout.split()[3]
    client = openai_client(proxy, api_key=key)
    assert call(client, "b-1", model="tag:gratis").headers["x-router-channel"] in {"gratis", "tiny"}
    with pytest.raises(openai.PermissionDeniedError):
        call(client, "b-2", model="tag:acct")
    listed = cli("--database-url", sqlite_url, "list")
    assert "bob" in listed.stdout and key not in listed.stdout
    assert cli("--database-url", sqlite_url, "revoke", key_id).returncode == 0
    deadline = time.monotonic() + 10
    while True:
        try:
            call(client, "b-3", model="tag:gratis")
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "a key revoked by the CLI was still accepted after 10 s"
        time.sleep(0.3)


def test_one_json_log_line_per_request_with_secrets_masked(proxy: Proxy) -> None:
    raw = call(openai_client(proxy), f"s-{uuid.uuid4().hex[:6]}")
    request_id = raw.headers["x-router-request-id"]
    deadline = time.monotonic() + 10
    line = None
    while line is None and time.monotonic() < deadline:
        lines = [json.loads(t) for t in proxy.log().splitlines() if t.startswith("{") and request_id in t]
        line = next((entry for entry in lines if entry.get("logger") == "smart_router.requests"), None)
        time.sleep(0.1)
    assert line is not None, "no JSON log line for the request"
    assert (line["request_id"], line["deployment_id"], line["status"]) == (request_id, "priced", "success")
    assert line["cost_usd"] == pytest.approx(COST) and line["level"] == "info"
    assert "sk-paid" not in proxy.log()  # the provider key, in no line of ours or LiteLLM's
