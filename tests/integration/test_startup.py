"""Starting the proxy: the default config with no keys, plain `litellm --config`, bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from router_ext.cli import PROVIDER_KEYS
from scripts.stack import ROOT, Simulator, free_port, openai_client, render_config, start_proxy


def test_default_config_starts_with_no_keys_and_says_how_to_add_one() -> None:
    env = {k: "" for k in PROVIDER_KEYS}
    proxy = start_proxy(ROOT / "config" / "config.yaml", env=env)
    try:
        log = proxy.log()
        assert "no provider key is set" in log
        assert "set OPENROUTER_API_KEY to enable it" in log
        client = openai_client(proxy)
        ids = {m.id for m in client.models.list()}
        assert {"auto", "auto:free", "auto:local"} <= ids
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.status_code == 503
        assert "no channel is configured" in raised.value.response.json()["error"]["message"]
    finally:
        proxy.stop()


def test_plain_litellm_loads_the_extension_by_import_path(simulator: Simulator) -> None:
    config = render_config(Path(__file__).parent / "routing_config.yaml", simulator.ports)
    proxy = start_proxy(config, plain_litellm=True)
    try:
        client = openai_client(proxy)
        raw = client.chat.completions.with_raw_response.create(
            model="tag:qwen,free", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-router-channel"] == "free-qwen3-30b"
        admin = httpx.get(
            f"{proxy.base_url}/routing/strategy", headers={"Authorization": f"Bearer {proxy.master_key}"}
        )
        assert admin.json()["strategy"] == "balanced"
    finally:
        proxy.stop()


def rendered_dirs() -> set[Path]:
    """`serve`'s own temporary folders (`smart-router-` + 8 random characters)."""
    return {
        p
        for p in Path(tempfile.gettempdir()).glob("smart-router-*")
        if "-" not in p.name[len("smart-router-") :]
    }


def test_a_sigterm_stops_our_background_work_and_closes_our_clients(simulator: Simulator) -> None:
    config = render_config(
        Path(__file__).parent / "routing_config.yaml",
        simulator.ports,
        extra={"router_settings": {"num_retries": 0, "redis_password": "pw-in-the-config-7d1e"}},
    )
    before = rendered_dirs()
    proxy = start_proxy(config)
    try:
        client = openai_client(proxy)
        client.chat.completions.create(model="tag:qwen,free", messages=[{"role": "user", "content": "hi"}])
        children = Path(f"/proc/{proxy.process.pid}/task/{proxy.process.pid}/children").read_text().split()
        environ = b"".join(Path(f"/proc/{pid}/environ").read_bytes() for pid in children)
        assert children and b"pw-in-the-config-7d1e" not in environ  # the config's secrets stay in files
        # once its start-up work is done (after the first answer) the start-up heap leaves the
        # collector's full passes (router_ext/runtime/heap.py); the stop below comes after it
        deadline = time.monotonic() + 60
        while "start-up objects exempted from full garbage-collector passes" not in proxy.log():
            assert time.monotonic() < deadline, proxy.log()[-3000:]
            time.sleep(0.1)
    finally:
        proxy.stop()
    assert proxy.process.returncode == 0  # a stop is a clean exit
    assert rendered_dirs() - before == set()  # serve removed its temporary config
    log = proxy.log()
    assert "smart-router: stopped (" in log
    assert "Traceback" not in log[log.index("smart-router: stopped (") :]


def test_a_misspelled_setting_stops_start_up_and_names_the_key(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    document["smart_router"] = {"stratgy": "cost_first"}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document))
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-" + "x9" * 16, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "router_ext.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(free_port()),
            "--env-file",
            str(tmp_path / ".env"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    assert "smart_router.stratgy: unknown setting" in result.stdout + result.stderr
