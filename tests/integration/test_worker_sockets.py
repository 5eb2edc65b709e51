"""The listening sockets of `serve --workers`, with real uvicorn workers around a tiny app: a
worker that stops serving (restarted, recycled, told to stop) takes its socket out of the port
at once, so no new connection waits on it while it drains; a taken port is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from scripts.stack import ROOT, free_port, stop_process

HERE = Path(__file__).parent
DRAIN_S = 4.0
SUPERVISOR = """
import sys
from router_ext.balanced_workers import run
run("draining_app:app", host="127.0.0.1", port=int(sys.argv[1]), workers=2, log_level="info")
"""


class Workers:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log_path = log
        with log.open("ab") as output:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-c", SUPERVISOR, str(port)],
                env={
                    **os.environ,
                    "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE / 'draining_app'}",
                    "DRAIN_S": str(DRAIN_S),
                },
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count("Application startup complete.") < count:
            assert self.process.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def serving_pids(
        self, started: int, old: frozenset[int] = frozenset(), timeout: float = 30.0
    ) -> set[int]:
        """Once `started` workers have started (by the log): the two that answer, none of `old`
        (the log line comes a moment before the worker listens)."""
        self.wait_started(started, timeout)
        deadline = time.monotonic() + timeout
        while True:
            pids = {pid for pid in (answered_by(self.port) for _ in range(40)) if pid is not None}
            if len(pids) == 2 and pids.isdisjoint(old):
                return pids
            assert time.monotonic() < deadline, (pids, self.log())
            time.sleep(0.05)


def answered_by(port: int) -> int | None:
    """The worker that answers a fresh connection; None when the connection was dropped. Only
    for waiting on a state: a worker that is told to stop while connections arrive drops the
    one the kernel queued on its socket in that instant (see `wait_one_not_listening`); the
    draining tests count from after that instant and accept no drop."""
    try:
        return int(fresh_get(port).text)
    except httpx.TransportError:
        return None


def fresh_get(port: int) -> httpx.Response:
    with httpx.Client(timeout=2.0) as client:  # a new connection each time: the kernel picks its socket
        return client.get(f"http://127.0.0.1:{port}/")


def wait_one_not_listening(pids: frozenset[int], port: int, timeout: float = 30.0) -> int:
    """The first of `pids` to close its listening socket (its next tick after the signal). A
    connection the kernel queued on that socket in that instant is reset when it closes (unless
    net.ipv4.tcp_migrate_req=1 moves it to another worker): uvicorn's own race, not one to count."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            try:
                held = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                return pid
            if not any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in held):
                return pid
        assert time.monotonic() < deadline, f"workers {sorted(pids)} all still listen on {port}"
        time.sleep(0.02)


def answers_while_draining(port: int, seconds: float) -> list[tuple[float, float, int]]:
    """Fresh connections for `seconds`: when each began, how long it took, which worker answered."""
    seen = []
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        began = time.monotonic()
        response = fresh_get(port)  # a connection left on a socket nobody accepts times out here
        seen.append((began - start, time.monotonic() - began, int(response.text)))
    return seen


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(free_port(), tmp_path / "workers.log")
    yield running
    stop_process(running.process)


def test_a_worker_told_to_stop_takes_no_new_connection_while_it_drains(workers: Workers) -> None:
    pids = workers.serving_pids(2)
    leaving = min(pids)
    os.kill(leaving, signal.SIGTERM)  # as a recycle after --max_requests_before_restart does
    wait_one_not_listening(frozenset({leaving}), workers.port)  # then it drains for DRAIN_S
    seen = answers_while_draining(workers.port, DRAIN_S - 1.5)
    assert max(took for _, took, _ in seen) < 1.0, seen
    assert leaving not in {pid for _, _, pid in seen}, seen
    assert len(seen) > 20
    assert leaving not in workers.serving_pids(3)  # and a replacement serves in its place


def test_a_sighup_restart_sends_no_connection_to_the_draining_workers(workers: Workers) -> None:
    old = frozenset(workers.serving_pids(2))
    workers.process.send_signal(signal.SIGHUP)
    workers.wait_started(3)
    leaving = wait_one_not_listening(old, workers.port)  # told to stop once its replacement serves
    seen = answers_while_draining(workers.port, DRAIN_S - 1.5)  # it drains now
    assert leaving not in {pid for _, _, pid in seen}, seen
    assert max(took for _, took, _ in seen) < 1.0, seen
    assert len(seen) > 20
    workers.serving_pids(4, old=old)  # both replaced


def test_a_port_another_process_listens_on_is_refused(tmp_path: Path) -> None:
    port = free_port()
    holder = Workers(port, tmp_path / "holder.log")
    try:
        holder.serving_pids(2)
        second = Workers(port, tmp_path / "second.log")
        assert second.process.wait(timeout=60) == 3, second.log()
        assert "Address already in use" in second.log()
        assert "Started server process" not in second.log()
    finally:
        stop_process(holder.process)
