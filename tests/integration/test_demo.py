"""`make demo` (scripts.demo) end to end: it serves, it says which key to use (the one in .env),
and one SIGTERM stops it cleanly with every child gone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from scripts.stack import ROOT, free_port


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def test_the_demo_serves_with_the_key_in_env_and_one_sigterm_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env_file = tmp_path / ".env"
    env = {**os.environ, "PORT": str(port), "SMART_ROUTER_ENV_FILE": str(env_file), "LITELLM_MASTER_KEY": ""}
    env.pop("LITELLM_MASTER_KEY")
    demo = subprocess.Popen(
        [sys.executable, "-m", "scripts.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Ctrl-C stops the demo" in line:
            break
    text = "".join(output)
    assert "Ctrl-C stops the demo" in text, text
    key = next(
        line.split("=", 1)[1].strip()
        for line in env_file.read_text().splitlines()
        if line.startswith("LITELLM_MASTER_KEY=")
    )
    assert key in text  # the key it prints is the one in .env
    answer = httpx.get(
        f"http://127.0.0.1:{port}/routing/strategy", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200
    children = descendants(demo.pid)
    assert len(children) >= 2  # the simulated providers and the proxy (with serve in between)
    demo.send_signal(signal.SIGTERM)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "Traceback" not in text + rest
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing holds the port
