"""kill -9 of a proxy while requests flow: every answered request is recorded after the restart
(the per-process journal is replayed before budgets are read back)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import openai

from scripts.stack import Simulator, openai_client, render_config, start_proxy

HERE = Path(__file__).parent
HELLO = [{"role": "user", "content": "hello"}]


def test_records_survive_a_sigkill_while_requests_flow(simulator: Simulator, tmp_path: Path) -> None:
    config = render_config(HERE / "routing_config.yaml", simulator.ports)
    proxy = start_proxy(config, workdir=tmp_path)
    answered: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        client = openai_client(proxy, timeout=10)
        while not stop.is_set():
            try:
                raw = client.chat.completions.with_raw_response.create(model="tag:qwen,free", messages=HELLO)
            except (openai.APIError, httpx.HTTPError):
                continue  # the kill cut this one: not answered
            answered.append(raw.headers["x-router-request-id"])

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline = began + 30
    while len(answered) < 60 and time.monotonic() < deadline:  # early: most records still in memory
        time.sleep(0.05)
    flowed = time.monotonic() - began
    children = Path(f"/proc/{proxy.process.pid}/task/{proxy.process.pid}/children").read_text().split()
    for pid in children:  # the proxy itself, not `serve` (which would stop it cleanly)
        os.kill(int(pid), signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    proxy.process.wait(timeout=15)
    assert len(answered) >= 60
    restarted = start_proxy(config, workdir=tmp_path)
    try:
        admin = httpx.Client(
            base_url=restarted.base_url, headers={"Authorization": f"Bearer {restarted.master_key}"}
        )
        deadline = time.monotonic() + 30
        recorded: set[str] = set()
        while time.monotonic() < deadline:
            records = admin.get("/routing/records", params={"limit": 1000}).json()["records"]
            recorded = {r["request_id"] for r in records}
            if set(answered) <= recorded:
                break
            time.sleep(0.2)
        lost = set(answered) - recorded
        # The target: at most ~100 ms of traffic. What can still be lost is the few requests whose
        # answer went out before LiteLLM ran their success callback (which writes the record).
        per_second = len(answered) / flowed
        assert len(lost) <= max(2, math.ceil(per_second * 0.1)), (
            f"{len(lost)} of {len(answered)} answered requests have no record ({per_second:.0f} req/s)"
        )
        assert "replayed from the journals" in restarted.log()
    finally:
        restarted.stop()
