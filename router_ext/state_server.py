"""The embedded shared-state server of `smart-router serve --workers N` without Redis, so the
workers share breakers, disabled keys, strategy, spend, learned rate limits and job leadership
through the same code path as with a configured Redis: a private `redis-server` (no disk, on
127.0.0.1) when one is installed, else fakeredis (pure Python, in a thread of the supervisor),
so a fresh machine with nothing installed works too. Measured under load (workers bench):
fakeredis's handler polls each connection every 10 ms and took ~26 % of a core, a real
redis-server almost nothing (2 workers: 1.14x one worker with fakeredis, 1.35x with Redis).
Its state lives as long as the supervisor; configure REDIS_URL for state that outlives restarts.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from typing import Any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _RedisProcess:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def shutdown(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _redis_server(port: int) -> _RedisProcess | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    from router_ext.exit_signals import child_process_options

    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **child_process_options(),
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return _RedisProcess(process)
        time.sleep(0.02)
    process.kill()
    return None  # it did not come up: fall back to fakeredis


def start_state_server() -> tuple[str, Any]:
    """(its redis:// URL, the server: `shutdown()` it at exit)."""
    port = _free_port()
    started = _redis_server(port)
    if started is not None:
        return f"redis://127.0.0.1:{port}/0", started
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, name="smart-router-state", daemon=True).start()
    return f"redis://127.0.0.1:{port}/0", server
