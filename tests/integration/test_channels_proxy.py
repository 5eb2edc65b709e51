"""Channels and upstream keys managed at run time, through the real proxy: added, changed and
deleted over the API and routed to at once; keys sealed at rest; a restart keeps them; a wrong
SMART_ROUTER_SECRET_KEY stops the start."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from scripts.stack import ROOT, Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
KEYS = ["sk-pool-1", "sk-pool-second-key-0002", "sk-pool-third-key-0003"]
MODELS = ["qwen/qwen3-8b", "mystery-model-7b", "other-model-3b"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator({"providers": [{"name": "pool", "models": MODELS, "api_key": KEYS}]})
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def config(simulator: Simulator) -> Path:
    return render_config(HERE / "channels_config.yaml", simulator.ports)


@pytest.fixture(scope="module")
def proxy(config: Path) -> Iterator[Proxy]:
    running = start_proxy(config)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    ) as client:
        yield client


def base(simulator: Simulator) -> str:
    return f"http://127.0.0.1:{simulator.ports['pool']}/v1"


def channel(simulator: Simulator, model: str, key: str | None = KEYS[1], **info: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"model": f"openai/{model}", "api_base": base(simulator)}
    if key is not None:
        params["api_key"] = key
    return {"model_name": model, "litellm_params": params, "model_info": info}


def ask(proxy: Proxy, model: str) -> openai.APIResponse[Any]:
    return openai_client(proxy).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )


def test_a_channel_added_over_the_api_routes_at_once_and_its_key_is_never_echoed(
    proxy: Proxy, admin: httpx.Client, simulator: Simulator
) -> None:
    created = admin.post("/routing/channels", json=channel(simulator, "mystery-model-7b", id="mystery"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "mystery" and body["source"] == "store"
    assert KEYS[1] not in created.text and body["keys"][0]["prefix"] == KEYS[1][:6] + "..."
    assert "api_key" not in body["litellm_params"]
    served = ask(proxy, "tag:mystery")
    assert served.headers["x-router-channel"] == "mystery"
    assert "mystery-model-7b says hello" in (served.parse().choices[0].message.content or "")
    listed = {c["id"]: c for c in admin.get("/routing/channels").json()["channels"]}
    assert listed["mystery"]["source"] == "store" and listed["config-qwen"]["source"] == "config"


def test_a_stored_wildcard_channel_is_expanded_by_discovery(
    proxy: Proxy, admin: httpx.Client, simulator: Simulator
) -> None:
    body = {
        "model_name": "pool/*",
        "litellm_params": {"model": "openai/*", "api_base": base(simulator), "api_key": KEYS[1]},
        "model_info": {"id": "pool-wildcard"},
    }
    assert admin.post("/routing/channels", json=body).status_code == 201
    deadline = time.monotonic() + 15
    while True:
        try:
            served = ask(proxy, "pool/other-model-3b")
            break
        except openai.APIStatusError:
            assert time.monotonic() < deadline, "discovery did not list the stored wildcard's models"
            time.sleep(0.2)
    assert "other-model-3b says hello" in (served.parse().choices[0].message.content or "")
    discovered = [
        c for c in admin.get("/routing/channels").json()["channels"] if c["discovered_from"] == "pool/*"
    ]
    # A model a concrete channel serves already (config-qwen, the stored "mystery") is not listed twice.
    assert {c["upstream_model"] for c in discovered} == {"openai/other-model-3b"}
    assert admin.delete("/routing/channels/pool-wildcard").status_code == 200
    gone = time.monotonic() + 10
    while any(c["discovered_from"] == "pool/*" for c in admin.get("/routing/channels").json()["channels"]):
        assert time.monotonic() < gone, "the wildcard's models outlived it"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"litellm_params": {"model": "openai/x"}}, "model_name"),
        ({"model_name": "x", "litellm_params": {}}, "litellm_params.model"),
        (
            {"model_name": "x", "litellm_params": {"model": "openai/x", "api_base": "ftp://nope"}},
            "litellm_params.api_base",
        ),
        ({"model_name": "x", "litellm_params": {"model": "nosuchprovider/x"}}, "litellm_params.model"),
        ({"model_name": "x", "litellm_params": {"model": "openai/x"}, "colour": "red"}, "colour"),
        (
            {"model_name": "x", "litellm_params": {"model": "openai/x"}, "model_info": {"id": "bad id!"}},
            "model_info.id",
        ),
        (
            {"model_name": "x", "litellm_params": {"model": "openai/x", "api_key": ""}},
            "litellm_params.api_key",
        ),
    ],
)
def test_a_bad_channel_is_a_400_naming_the_field(
    admin: httpx.Client, body: dict[str, Any], field: str
) -> None:
    refused = admin.post("/routing/channels", json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == field and error["message"].startswith(field)


def test_not_json_and_a_taken_id_are_clear_errors(admin: httpx.Client, simulator: Simulator) -> None:
    broken = admin.post(
        "/routing/channels", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]["message"]
    taken = admin.post("/routing/channels", json=channel(simulator, "other-model-3b", id="config-qwen"))
    assert taken.status_code == 409 and "exists" in taken.json()["error"]["message"]


def test_a_patch_takes_effect_at_once(proxy: Proxy, admin: httpx.Client, simulator: Simulator) -> None:
    created = admin.post("/routing/channels", json=channel(simulator, "other-model-3b", id="other")).json()
    assert ask(proxy, "tag:other").headers["x-router-channel"] == "other"
    renamed = admin.patch(f"/routing/channels/{created['id']}", json={"model_name": "renamed-model-3b"})
    assert renamed.status_code == 200, renamed.text
    assert ask(proxy, "tag:renamed").headers["x-router-channel"] == "other"
    off = admin.patch("/routing/channels/other", json={"enabled": False})
    assert off.json()["enabled"] is False
    with pytest.raises(openai.APIStatusError) as gone:
        ask(proxy, "tag:renamed")
    assert gone.value.status_code in (400, 404)
    admin.patch("/routing/channels/other", json={"enabled": True}).raise_for_status()
    assert ask(proxy, "tag:renamed").headers["x-router-channel"] == "other"
    refused = admin.patch("/routing/channels/other", json={"litellm_params": {"api_key": "sk-x"}})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "litellm_params.api_key"


def test_a_config_channel_cannot_be_deleted_here_but_can_be_disabled(
    proxy: Proxy, admin: httpx.Client
) -> None:
    refused = admin.delete("/routing/channels/config-qwen")
    assert refused.status_code == 409
    assert "config file" in refused.json()["error"]["message"]
    assert admin.patch("/routing/channels/config-qwen", json={"model_name": "x"}).status_code == 409
    assert admin.patch("/routing/channels/config-qwen", json={"enabled": False}).status_code == 200
    states = {c["id"]: c["state"] for c in admin.get("/routing/channels").json()["channels"]}
    assert states["config-qwen"] == "disabled"
    admin.patch("/routing/channels/config-qwen", json={"enabled": True}).raise_for_status()
    assert ask(proxy, "config-qwen3-8b").headers["x-router-channel"] == "config-qwen"
    assert admin.delete("/routing/channels/no-such").status_code == 404


def test_keys_form_a_rotation_pool_and_are_removed_at_once(proxy: Proxy, admin: httpx.Client) -> None:
    added = admin.post("/routing/channels/mystery/keys", json={"api_key": KEYS[2]})
    assert added.status_code == 201, added.text
    assert KEYS[2] not in added.text and added.json()["prefix"] == KEYS[2][:6] + "..."
    pool = added.json()["deployment_id"]
    assert pool.startswith("mystery.")
    served = {ask(proxy, "tag:mystery").headers["x-router-channel"] for _ in range(6)}
    assert served == {"mystery", pool}
    assert admin.delete(f"/routing/channels/mystery/keys/{added.json()['id']}").status_code == 200
    assert {ask(proxy, "tag:mystery").headers["x-router-channel"] for _ in range(3)} == {"mystery"}
    assert admin.post("/routing/channels/mystery/keys", json={}).status_code == 400
    assert admin.delete("/routing/channels/mystery/keys/nope").status_code == 404


def test_a_channel_test_reports_latency_and_the_error_class(
    admin: httpx.Client, simulator: Simulator
) -> None:
    good = admin.post("/routing/channels/mystery/test").json()
    assert good["ok"] is True and good["results"][0]["latency_ms"] > 0
    admin.post(
        "/routing/channels",
        json=channel(simulator, "mystery-model-7b", key="sk-wrong-key-123", id="wrong-key"),
    )
    bad = admin.post("/routing/channels/wrong-key/test").json()
    assert bad["ok"] is False
    assert (bad["results"][0]["error_class"], bad["results"][0]["error_reason"]) == (
        "permanent",
        "invalid_key",
    )
    assert "sk-wrong-key-123" not in str(bad)
    assert admin.delete("/routing/channels/wrong-key").status_code == 200


def test_the_database_never_holds_a_key_in_clear(proxy: Proxy, admin: httpx.Client) -> None:
    assert admin.get("/routing/channels/stored").status_code == 200
    database = proxy.workdir / "data" / "router.db"
    raw = database.read_bytes() + b"".join(p.read_bytes() for p in database.parent.glob("router.db-*"))
    for key in KEYS[1:]:
        assert key.encode() not in raw
    rows = sqlite3.connect(database).execute("SELECT sealed_key FROM stored_channel_keys").fetchall()
    assert rows and all(row[0].startswith("v1:") for row in rows)


def test_the_charts_count_what_was_served(admin: httpx.Client) -> None:
    deadline = time.monotonic() + 15
    while True:  # records are written off the request path, within about a second
        charts = admin.get("/routing/stats/charts", params={"days": 30}).json()
        if charts["requests_by_channel"].get("mystery", [0])[-1] >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (
        len(charts["days"]) == 30
        and charts["requests"][-1] >= charts["requests_by_channel"]["mystery"][-1] >= 5
    )
    assert {row["channel"] for row in charts["latency"]} >= {"mystery", "config-qwen"}
    assert all(row["p95_ms"] >= row["p50_ms"] > 0 for row in charts["latency"])
    assert charts["free_vs_paid"]["free"]["requests"] > 0  # the stored channels have no price: free
    assert admin.get("/routing/stats/charts", params={"days": 0}).status_code == 400


def test_no_key_appears_in_the_log_or_any_admin_answer(proxy: Proxy, admin: httpx.Client) -> None:
    answers = "".join(
        admin.get(p).text for p in ("/routing/channels", "/routing/channels/stored", "/routing/records")
    )
    for key in KEYS[1:]:
        assert key not in answers and key not in proxy.log()


def offline_env(**extra: str) -> dict[str, str]:
    """The environment our CLI runs in here: offline, this checkout importable."""
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def cli(
    workdir: Path, config: Path, *args: str, key: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`smart-router channels ...` in the proxy's folder (its SQLite file and `.env`)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "router_ext.cli",
            "channels",
            "--config",
            str(config),
            "--env-file",
            str(workdir / ".env"),
            *args,
        ],
        cwd=workdir,
        input=key + "\n",
        env=offline_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


def test_a_channel_added_by_the_cli_routes_on_the_running_proxy_within_2_s(
    proxy: Proxy, config: Path, simulator: Simulator
) -> None:
    added = cli(
        proxy.workdir,
        config,
        "add",
        "--model-name",
        "cli-added-model",
        "--model",
        "openai/other-model-3b",
        "--api-base",
        base(simulator),
        "--id",
        "cli-added",
        key=KEYS[2],
    )
    assert added.returncode == 0, added.stderr
    assert KEYS[2] not in added.stdout + added.stderr
    written = time.monotonic()
    while True:
        try:
            served = ask(proxy, "tag:cli,added")
            break
        except openai.APIStatusError:
            assert time.monotonic() - written < 3.0, "the running proxy did not pick up the CLI's channel"
            time.sleep(0.1)
    assert served.headers["x-router-channel"] == "cli-added"
    listed = cli(proxy.workdir, config, "list")
    assert (
        "cli-added" in listed.stdout and KEYS[2][:6] + "..." in listed.stdout and KEYS[2] not in listed.stdout
    )
    tested = cli(proxy.workdir, config, "test", "cli-added")
    assert tested.returncode == 0 and "cli-added: ok in" in tested.stdout, tested.stdout + tested.stderr


def test_the_cli_imports_a_litellm_model_list(
    proxy: Proxy, config: Path, simulator: Simulator, tmp_path: Path
) -> None:
    source = tmp_path / "old-config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: imported-model\n"
        f"    litellm_params: {{model: openai/mystery-model-7b, api_base: '{base(simulator)}', api_key: {KEYS[1]}}}\n"
        "    model_info: {id: imported-one}\n"
        "  - model_name: needs-env\n"
        "    litellm_params: {model: openai/x, api_key: os.environ/NOT_SET_ANYWHERE}\n",
        encoding="utf-8",
    )
    first = cli(proxy.workdir, config, "import", str(source))
    assert first.returncode == 0, first.stderr
    assert "imported imported-one" in first.stdout and "NOT_SET_ANYWHERE is not set" in first.stdout
    again = cli(proxy.workdir, config, "import", str(source))
    assert "0 channel(s) imported" in again.stdout  # importing twice adds nothing
    assert KEYS[1] not in first.stdout + again.stdout
    deadline = time.monotonic() + 5
    while True:
        try:
            assert ask(proxy, "tag:imported").headers["x-router-channel"] == "imported-one"
            break
        except openai.APIStatusError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_the_cli_imports_a_one_api_channel_export(
    proxy: Proxy, config: Path, simulator: Simulator, tmp_path: Path
) -> None:
    row = {
        "id": 42,
        "type": 8,  # One API's "custom" OpenAI-compatible channel
        "name": "old-gateway",
        "key": f"{KEYS[1]}\n{KEYS[2]}",  # New API: one key per line
        "status": 1,
        "base_url": f"http://127.0.0.1:{simulator.ports['pool']}",
        "models": "legacy-alias",
        "model_mapping": '{"legacy-alias": "other-model-3b"}',
    }
    export = tmp_path / "channels.json"
    export.write_text(json.dumps({"success": True, "data": [row]}), encoding="utf-8")
    done = cli(proxy.workdir, config, "import", str(export))
    assert done.returncode == 0, done.stderr
    assert "imported oneapi-42-legacy-alias (legacy-alias, 2 key(s))" in done.stdout
    assert KEYS[1] not in done.stdout and KEYS[2] not in done.stdout
    deadline = time.monotonic() + 5
    served: set[str] = set()
    while len(served) < 2:
        try:
            served.add(ask(proxy, "tag:legacy,alias").headers["x-router-channel"])
        except openai.APIStatusError:
            time.sleep(0.1)
        assert time.monotonic() < deadline, f"served by {served}"
    assert all(s.startswith("oneapi-42-legacy-alias") for s in served)


def test_rekey_seals_every_key_under_a_new_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SMART_ROUTER_SECRET_KEY=the-first-secret-of-this-store\n", encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'rekey.db'}"

    def channels(
        *args: str, key: str = "", env: str = str(env_file), **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "router_ext.cli",
                "channels",
                "--database-url",
                url,
                "--env-file",
                env,
                *args,
            ],
            cwd=tmp_path,
            input=key + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT), **extra},
        )

    added = channels("add", "--model-name", "m", "--model", "openai/m", "--id", "rk", key=KEYS[1])
    assert added.returncode == 0, added.stderr
    rekeyed = channels("rekey", "--generate")
    assert rekeyed.returncode == 0 and "re-encrypted 1 key(s)" in rekeyed.stdout, rekeyed.stderr
    assert "the-first-secret-of-this-store" not in env_file.read_text(encoding="utf-8")
    # The new secret (now in .env) opens the keys: a second key joins the pool.
    assert channels("key-add", "rk", key=KEYS[2]).returncode == 0
    assert channels("list").stdout.count("sk-poo...") == 2
    # The old one no longer does: a clear refusal, nothing written.
    old = channels(
        "key-add",
        "rk",
        key=KEYS[2],
        env="/nonexistent",
        SMART_ROUTER_SECRET_KEY="the-first-secret-of-this-store",
    )
    assert old.returncode == 2 and "SMART_ROUTER_SECRET_KEY" in old.stderr


def test_a_restart_keeps_stored_channels_and_a_wrong_secret_stops_the_start(
    proxy: Proxy, admin: httpx.Client, config: Path, simulator: Simulator
) -> None:
    body = {
        **channel(simulator, "mystery-model-7b", id="kept-over-restart"),
        "model_name": "kept-over-restart",
    }
    kept = admin.post("/routing/channels", json=body)
    assert kept.status_code == 201, kept.text
    proxy.stop()
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "router_ext.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            "1",
            "--env-file",
            str(proxy.workdir / ".env"),
        ],
        cwd=proxy.workdir,
        env=offline_env(
            LITELLM_MASTER_KEY=proxy.master_key,
            SMART_ROUTER_SECRET_KEY="not-the-secret-the-keys-were-sealed-under",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert "SMART_ROUTER_SECRET_KEY" in wrong.stderr and "cannot start" in wrong.stderr
    again = start_proxy(config, workdir=proxy.workdir, env={"LITELLM_MASTER_KEY": proxy.master_key})
    try:
        # The first admin read after the start already lists it (it waits for stored channels as
        # routing does), and so does the first request.
        listed = httpx.get(
            f"{again.base_url}/routing/channels", headers={"Authorization": f"Bearer {again.master_key}"}
        ).json()["channels"]
        assert "kept-over-restart" in {c["id"] for c in listed}
        assert ask(again, "tag:kept,over,restart").headers["x-router-channel"] == "kept-over-restart"
    finally:
        again.stop()
