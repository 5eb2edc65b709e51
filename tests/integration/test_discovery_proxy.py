"""Discovery and prices through the real proxy: wildcard channels expanded from their listings,
prices from an OpenRouter-format models API and a SiliconFlow-format pricing page."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from scripts.stack import Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
PRICES = HERE.parent / "fixtures" / "prices"
OPENROUTER_IDS = [m["id"] for m in json.loads((PRICES / "openrouter_models.json").read_text())["data"]]
SF_MODELS = [
    "Qwen/Qwen3-8B",
    "Pro/Qwen/Qwen2.5-7B-Instruct",
    "deepseek-ai/DeepSeek-V3",
    "Qwen/Qwen2.5-32B-Instruct",
]
PROVIDERS = {
    "providers": [
        {
            "name": "sf",
            "models": SF_MODELS,
            "api_key": "sk-sf",
            "pages": {"/pricing": str(PRICES / "siliconflow_pricing.html")},
        },
        {
            "name": "orr",
            "models": OPENROUTER_IDS,
            "api_key": "sk-or",
            "pages": {"/api/v1/models": str(PRICES / "openrouter_models.json")},
        },
    ]
}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/router.db"


@pytest.fixture(scope="module")
def proxy(simulator: Simulator, database: str) -> Iterator[Proxy]:
    running = start_proxy(
        render_config(HERE / "discovery_config.yaml", simulator.ports), env={"ROUTER_DATABASE_URL": database}
    )
    yield running
    running.stop()


def admin_of(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def wait_listed(admin: httpx.Client, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        sources = admin.get("/routing/discovery").json()["sources"]
        jobs = admin.get("/routing/jobs").json()["jobs"]
        done = (
            all(s["models"] for s in sources.values())
            and jobs.get("prices", {}).get("last_result") is not None
        )
        if done or time.monotonic() > deadline:
            return sources
        time.sleep(0.2)


def channels(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in admin.get("/routing/channels").json()["channels"]}


def test_wildcards_are_expanded_with_prices_per_channel(proxy: Proxy) -> None:
    admin = admin_of(proxy)
    sources = wait_listed(admin)
    assert sources["sf/*"]["models"] == len(SF_MODELS) and sources["or/*"]["models"] == len(OPENROUTER_IDS)
    listed = channels(admin)
    deepseek = listed["siliconflow/deepseek-ai/DeepSeek-V3"]
    assert (deepseek["input_cost_per_token"], deepseek["output_cost_per_token"]) == pytest.approx(
        (2.8e-7, 1.12e-6)
    )
    assert deepseek["price_source"] == "siliconflow" and deepseek["price_at"] and not deepseek["price_stale"]
    assert deepseek["discovered_from"] == "sf/*"
    assert listed["siliconflow/Qwen/Qwen3-8B"]["free"]
    assert listed["configured-qwen"]["input_cost_per_token"] == 1.0e-6  # the config wins over the page
    assert listed["configured-qwen"]["price_source"] == "config"
    assert "siliconflow/Qwen/Qwen2.5-32B-Instruct" not in listed  # configured: no discovered twin
    opus = listed["openrouter/anthropic/claude-opus-4"]
    assert (opus["input_cost_per_token"], opus["output_cost_per_token"]) == pytest.approx((1.5e-5, 7.5e-5))
    assert listed["openrouter/qwen/qwen3-30b-a3b:free"]["free"]
    auto = listed["openrouter/openrouter/auto"]
    assert not auto["free"] and auto["price_source"] is None  # "-1": unknown, not free


def test_auto_free_is_backed_by_real_prices(proxy: Proxy) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    explain = admin.get("/routing/explain", params={"model": "auto:free"}).json()
    ranked = {r["channel"] for r in explain["ranked"]}
    assert {"siliconflow/Qwen/Qwen3-8B", "openrouter/qwen/qwen3-30b-a3b:free"} <= ranked
    assert "openrouter/openrouter/auto" not in ranked and "openrouter/anthropic/claude-opus-4" not in ranked
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="auto:free", messages=HELLO, max_tokens=4
    )
    assert raw.headers["x-router-channel"] in ranked and raw.headers["x-router-cost-usd"] == "0"


def test_models_added_and_removed_upstream_follow_without_a_restart(
    proxy: Proxy, simulator: Simulator
) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    client = openai_client(proxy)
    served = client.chat.completions.with_raw_response.create(
        model="tag:deepseek,v3", messages=HELLO, max_tokens=4
    )
    assert served.headers["x-router-channel"] == "siliconflow/deepseek-ai/DeepSeek-V3"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="tag:glm", messages=HELLO, max_tokens=4)

    simulator.control(
        "sf", {"models": [m for m in SF_MODELS if "DeepSeek" not in m] + ["THUDM/GLM-4-9B-0414"]}
    )
    changed = admin.post("/routing/discover").json()
    assert changed["added"] == ["siliconflow/THUDM/GLM-4-9B-0414"]
    assert changed["removed"] == ["siliconflow/deepseek-ai/DeepSeek-V3"]
    glm = client.chat.completions.with_raw_response.create(model="tag:glm", messages=HELLO, max_tokens=4)
    assert glm.headers["x-router-channel"] == "siliconflow/THUDM/GLM-4-9B-0414"
    assert glm.headers["x-router-cost-usd"] == "0"  # free on the pricing page
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="tag:deepseek,v3", messages=HELLO, max_tokens=4)


def test_a_changed_page_keeps_the_last_good_prices_and_changes_are_reported(
    proxy: Proxy, simulator: Simulator
) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    simulator.control(
        "sf", {"pages": {"/pricing": (PRICES / "siliconflow_pricing_changed.html").read_text()}}
    )
    result = admin.post("/routing/prices/refresh").json()
    assert (
        "0 prices parsed from the SiliconFlow pricing page; layout changed?"
        in result["errors"]["siliconflow"]
    )
    assert result["changed"]["openrouter"] == 0
    table = {(p["channel"], p["model"]): p for p in admin.get("/routing/prices").json()["prices"]}
    assert table[("siliconflow", "Pro/Qwen/Qwen2.5-7B-Instruct")]["input_usd_per_m"] == pytest.approx(0.049)
    assert channels(admin)["siliconflow/Pro/Qwen/Qwen2.5-7B-Instruct"][
        "input_cost_per_token"
    ] == pytest.approx(4.9e-8)

    page = json.loads((PRICES / "openrouter_models.json").read_text())
    page["data"][0]["pricing"]["prompt"] = "0.00002"  # claude-opus-4: $15 -> $20 per million
    simulator.control("orr", {"pages": {"/api/v1/models": json.dumps(page)}})
    result = admin.post("/routing/prices/refresh", params={"channel": "openrouter"}).json()
    assert result["changed"] == {"openrouter": 1} and not result["errors"]
    opus = channels(admin)["openrouter/anthropic/claude-opus-4"]
    assert opus["input_cost_per_token"] == pytest.approx(2.0e-5)
    history = admin.get(
        "/routing/prices/history", params={"channel": "openrouter", "model": "anthropic/claude-opus-4"}
    ).json()["history"]
    assert [h["input_per_token"] for h in history] == pytest.approx([2.0e-5, 1.5e-5])
    bad = admin.post("/routing/prices/refresh", params={"channel": "nope"})
    assert bad.status_code == 404 and bad.json()["error"]["param"] == "channel"


def test_after_a_restart_the_stored_listing_routes_at_once(
    proxy: Proxy, simulator: Simulator, database: str
) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    # The restarted proxy does not list on start: it can only know GLM from the store.
    config = render_config(
        HERE / "discovery_config.yaml",
        simulator.ports,
        extra={
            "smart_router": {
                "discovery": {"on_start": False},
                "schedule": {"discovery": None, "prices": None},
                "prices": {"currency_rates": {"CNY": 0.14}},
            }
        },
    )
    second = start_proxy(config, env={"ROUTER_DATABASE_URL": database})
    try:
        raw = openai_client(second).chat.completions.with_raw_response.create(
            model="tag:glm", messages=HELLO, max_tokens=4
        )
        assert raw.headers["x-router-channel"] == "siliconflow/THUDM/GLM-4-9B-0414"
        opus = channels(admin_of(second))["openrouter/anthropic/claude-opus-4"]
        assert opus["input_cost_per_token"] == pytest.approx(2.0e-5)  # the newest stored price
    finally:
        second.stop()


def test_the_cli_prints_prices_and_listings(simulator: Simulator, tmp_path: Path) -> None:
    simulator.control("sf", {"pages": {"/pricing": (PRICES / "siliconflow_pricing.html").read_text()}})
    config = render_config(HERE / "discovery_config.yaml", simulator.ports)
    command = [sys.executable, "-m", "router_ext.cli"]
    env_file = ["--env-file", str(tmp_path / "none.env")]
    prices = subprocess.run(
        [*command, "prices", "--config", str(config), *env_file, "--channel", "siliconflow"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert prices.returncode == 0, prices.stderr
    row = next(line for line in prices.stdout.splitlines() if "Pro/Qwen/Qwen2.5-7B-Instruct" in line)
    assert row.split()[2:4] == ["0.0490", "0.0490"]
    assert "openrouter" not in prices.stdout
    listed = subprocess.run(
        [*command, "discover", "--config", str(config), *env_file], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert "sf/*  (siliconflow):" in listed.stdout and "or/anthropic/claude-opus-4" in listed.stdout


def test_reload_applies_added_changed_and_removed_channels(proxy: Proxy, simulator: Simulator) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    unchanged = admin.post("/routing/reload").json()  # LiteLLM's own defaults are no change
    assert (unchanged["added"], unchanged["removed"], unchanged["changed"]) == ([], [], [])
    config_file = Path(proxy.config_path)
    original = yaml.safe_load(config_file.read_text())
    edited = json.loads(json.dumps(original))
    extra = {
        "model_name": "extra-deepseek",
        "litellm_params": {
            "model": "openai/Qwen/Qwen3-8B",
            "api_base": f"http://127.0.0.1:{simulator.ports['sf']}/v1",
            "api_key": "sk-sf",
        },
        "model_info": {"id": "extra", "channel": "siliconflow", "tags": ["extra"]},
    }
    edited["model_list"] = [d for d in edited["model_list"] if d["model_name"] != "or/*"] + [extra]
    qwen = next(d for d in edited["model_list"] if d["model_name"] == "configured-qwen")
    qwen["model_info"]["input_cost_per_token"] = 3.0e-6
    config_file.write_text(yaml.safe_dump(edited))

    result = admin.post("/routing/reload").json()
    assert "extra" in result["added"] and result["changed"] == ["configured-qwen"]
    assert "openrouter/anthropic/claude-opus-4" in result["removed"]  # its wildcard is gone
    listed = channels(admin)
    assert listed["configured-qwen"]["input_cost_per_token"] == 3.0e-6
    assert not any(c.startswith("openrouter/") for c in listed)
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:extra", messages=HELLO, max_tokens=4
    )
    assert raw.headers["x-router-channel"] == "extra"

    config_file.write_text("model_list: [{model_name: broken}]\n")
    refused = admin.post("/routing/reload")
    assert refused.status_code == 400 and "nothing was changed" in refused.json()["error"]["message"]
    assert "extra" in channels(admin)

    config_file.write_text(yaml.safe_dump(original))  # back, by SIGHUP this time
    proxy.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while "extra" in channels(admin) or "openrouter/anthropic/claude-opus-4" not in channels(admin):
        assert time.monotonic() < deadline, "SIGHUP did not reload the config"
        time.sleep(0.3)
    assert proxy.process.poll() is None


def test_metrics_in_prometheus_format(proxy: Proxy) -> None:
    admin = admin_of(proxy)
    wait_listed(admin)
    openai_client(proxy).chat.completions.create(model="auto:free", messages=HELLO, max_tokens=4)
    response = admin.get("/routing/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert {
        "smart_router_requests_total",
        "smart_router_route_decision_seconds",
        "smart_router_breaker_state",
        "smart_router_spend_usd",
        "smart_router_discovered_models",
        "smart_router_prices",
        "smart_router_job_runs",
    } <= families
    assert 'smart_router_discovered_models{source="sf/*"}' in text
    success = [
        line
        for line in text.splitlines()
        if line.startswith("smart_router_requests_total{") and 'status="success"' in line
    ]
    assert success and sum(float(line.rsplit(" ", 1)[1]) for line in success) >= 1
    assert "smart_router_route_decision_seconds_count" in text
    assert httpx.get(f"{proxy.base_url}/routing/metrics").status_code == 401


@pytest.mark.parametrize("run", [1, 2, 3])
def test_a_discovered_model_routes_on_the_very_first_request_of_a_fresh_start(
    simulator: Simulator, tmp_path: Path, run: int
) -> None:
    # Nothing stored yet (a new database): the first request waits for the first listing.
    simulator.control("sf", {"models": SF_MODELS})  # as listed at the start of this module
    started = start_proxy(
        render_config(HERE / "discovery_config.yaml", simulator.ports),
        env={"ROUTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'first-{run}.db'}"},
    )
    try:
        raw = openai_client(started).chat.completions.with_raw_response.create(
            model="tag:deepseek,v3", messages=HELLO
        )
        assert raw.headers["x-router-channel"] == "siliconflow/deepseek-ai/DeepSeek-V3"
    finally:
        started.stop()
