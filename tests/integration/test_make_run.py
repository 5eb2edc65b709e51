"""`make run` itself: the ready block once the proxy answers (the key's place, never the key), and
one SIGTERM to the make process alone stops every process it started and frees the port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from router_ext.cli import PROVIDER_KEYS
from scripts.stack import ROOT, free_port
from tests.integration.test_demo import descendants

START_S = 240.0  # make's `env` step, then a LiteLLM start on a shared two-core box
STOP_S = 60.0


def in_group(pgid: int) -> list[int]:
    """Processes whose process group is `pgid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it has just ended
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def running(pids: set[int]) -> list[int]:
    """Those of `pids` still running (in make's group or not)."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_make_run_prints_where_things_are_and_one_sigterm_to_make_stops_everything(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.fail("GNU make is missing: the README's commands need it (apt-get install make)")
    document = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    document["smart_router"]["database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    document["smart_router"]["journal_dir"] = str(tmp_path / "journal")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env_file, log_path, port = tmp_path / ".env", tmp_path / "make.log", free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in (*PROVIDER_KEYS, "LITELLM_MASTER_KEY", "MAKEFLAGS")
    }
    env["PATH"] = f"{Path.home() / '.local' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    with log_path.open("wb") as log:
        make = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "run",
                f"PORT={port}",
                f"CONFIG={config}",
                f"ENV_FILE={env_file}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: what it leaves behind is findable
        )
    try:
        printed = wait_for(lambda: "smart-router is ready" in log_path.read_text(errors="replace"), START_S)
        assert printed, (
            f"no ready block within {START_S:.0f} s:\n{log_path.read_text(errors='replace')[-4000:]}"
        )
        assert listening(port)
        output = log_path.read_text(errors="replace")
        key = next(
            line.split("=", 1)[1].strip()
            for line in env_file.read_text().splitlines()
            if line.startswith("LITELLM_MASTER_KEY=")
        )
        block = output[output.index("smart-router is ready") :]
        assert f"URL:        http://127.0.0.1:{port}" in block
        assert f"dashboard:  http://127.0.0.1:{port}/routing/ui" in block
        assert f"admin key:  LITELLM_MASTER_KEY in {env_file}" in block
        assert "channels:   2 on (2 from the config, 2 of them local, 0 stored)" in block
        assert (
            f"next:       add a provider key to {env_file}, for example OPENROUTER_API_KEY=sk-or-..." in block
        )
        assert key not in output
        started = descendants(make.pid)
        assert len(started) >= 2  # serve (as the supervisor) and the proxy

        os.kill(make.pid, signal.SIGTERM)  # make alone, not its group
        make.wait(timeout=STOP_S)
        assert wait_for(lambda: not in_group(make.pid), STOP_S), (
            f"still running {STOP_S:.0f} s after make's SIGTERM: {in_group(make.pid)}"
        )
        assert wait_for(lambda: not running(started), STOP_S), f"left running: {running(started)}"
        assert not listening(port)  # nothing holds the port
        tail = log_path.read_text(errors="replace")
        assert "smart-router: stopped (" in tail  # the runtime's own shutdown ran
        assert "Traceback" not in tail
    finally:  # a failed test leaves nothing running either
        for pid in in_group(make.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            make.wait(timeout=10)
