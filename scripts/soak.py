"""`make soak`: a bounded run through the real proxy against simulated providers that fail at
random (5xx, 429 with Retry-After, dropped connections, hangs past the timeout, garbage bodies)
while one channel stays healthy. Prints client errors (the target is zero), the proxy's RSS and
open file descriptors (start / end / max), and records against requests.

    python -m scripts.soak [--seconds 600] [--concurrency 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from scripts.stack import Proxy, openai_client, start_proxy, start_simulator

CHAOS = {"500": 0.12, "429": 0.08, "drop": 0.05, "hang": 0.03, "garbage": 0.05}
FLAKY = ["flaky-a", "flaky-b", "flaky-c"]


@dataclass
class Soak:
    seconds: float
    concurrency: int
    requests: int = 0
    answered: int = 0
    client_errors: int = 0
    errors: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    records: int = 0

    def summary(self) -> dict[str, Any]:
        def span(values: list[Any]) -> dict[str, Any]:
            return {"start": values[0], "end": values[-1], "max": max(values)} if values else {}

        return {
            "seconds": self.seconds,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "answered": self.answered,
            "client_errors": self.client_errors,
            "first_errors": self.errors[:5],
            "rss_mb": span(self.rss_mb),
            "open_fds": span(self.fds),
            "records": self.records,
        }


def config(ports: dict[str, int]) -> Path:
    model_list = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": f"http://127.0.0.1:{ports[name]}/v1",
                "api_key": f"sk-{name}",
                "timeout": 2,
            },
            "model_info": {
                "id": name,
                "tags": ["soak"],
                "input_cost_per_token": 1e-8 * (i + 1),
                "output_cost_per_token": 1e-8,
            },
        }
        for i, name in enumerate([*FLAKY, "steady"])
    ]
    document = {
        "model_list": model_list,
        "litellm_settings": {
            "callbacks": ["router_ext.hook.proxy_handler"],
            "disable_hf_tokenizer_download": True,
        },
        "smart_router": {
            "strategy": "cost_first",
            "log_requests": False,
            "health": {
                "max_attempts": 5,
                "failover_deadline_s": 30,
                "base_cooldown_s": 1,
                "max_cooldown_s": 5,
            },
        },
    }
    path = Path(tempfile.mkdtemp(prefix="smart-router-soak-")) / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def proxy_process(proxy: Proxy) -> psutil.Process:
    serve = psutil.Process(proxy.process.pid)
    children = serve.children()
    return children[0] if children else serve


def run(seconds: float, concurrency: int) -> Soak:
    providers = [
        {"name": name, "models": [name], "api_key": f"sk-{name}", "chaos": CHAOS, "hang_s": 5}
        for name in FLAKY
    ]
    providers.append({"name": "steady", "models": ["steady"], "api_key": "sk-steady"})
    simulator = start_simulator({"providers": providers})
    proxy = start_proxy(config(simulator.ports))
    soak = Soak(seconds, concurrency)
    lock = threading.Lock()
    session = f"soak-{os.getpid()}"
    try:
        watched = proxy_process(proxy)
        stop = time.monotonic() + seconds

        def client_loop() -> None:
            client = openai_client(proxy, timeout=60)
            while time.monotonic() < stop:
                try:
                    client.chat.completions.create(
                        model="tag:soak",
                        messages=[{"role": "user", "content": "soak"}],
                        max_tokens=8,
                        extra_headers={"x-session-id": session},
                    )
                    outcome = None
                except Exception as error:  # noqa: BLE001  # every client-visible failure counts
                    outcome = f"{type(error).__name__}: {str(error)[:200]}"
                with lock:
                    soak.requests += 1
                    if outcome is None:
                        soak.answered += 1
                    else:
                        soak.client_errors += 1
                        soak.errors.append(outcome)

        threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            soak.rss_mb.append(round(watched.memory_info().rss / 2**20, 1))
            soak.fds.append(watched.num_fds())
            time.sleep(min(5.0, max(1.0, seconds / 20)))
        soak.rss_mb.append(round(watched.memory_info().rss / 2**20, 1))
        soak.fds.append(watched.num_fds())
        soak.records = count_records(proxy, session, soak.requests)
    finally:
        proxy.stop()
        simulator.stop()
    return soak


def count_records(proxy: Proxy, session: str, expected: int, wait_s: float = 30.0) -> int:
    """Records of this session, once the writer has caught up (or after `wait_s`)."""
    admin = httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )
    deadline = time.monotonic() + wait_s
    counted = 0
    while time.monotonic() < deadline:
        counted, before = 0, None
        while True:
            params: dict[str, Any] = {"limit": 1000, "session": session}
            if before is not None:
                params["before_id"] = before
            page = admin.get("/routing/records", params=params).json()
            counted += len(page["records"])
            before = page.get("next_before_id")
            if before is None:
                break
        if counted >= expected:
            break
        time.sleep(0.5)
    return counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    soak = run(args.seconds, args.concurrency)
    summary = soak.summary()
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({**summary, **{"raw": asdict(soak)}}, indent=2), encoding="utf-8")
    ok = soak.client_errors == 0 and soak.records == soak.requests
    print("soak:", "ok" if ok else "FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
