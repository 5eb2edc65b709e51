"""Hedged streams in `make bench`: time to first token when one channel's first token is 2 s
late on 10 % of requests, hedged vs not, in one run (targets compare ratios, never seconds).

The channels: `hd-a` (the better one, ranked first: first token in 300-400 ms, and 2 s later on
10 % of requests) and `hd-b` (free, a quick first token: 40-60 ms, ranked second). Three loads of
streams through the proxy, each measured at the client (request sent -> first content chunk):
  - fast path: hedging on, no late tokens (what a request costs when nothing goes wrong)
  - late tail, no hedging (`smart_router.hedging.enabled: false`)
  - late tail, hedged
  - the same two with the upstream late before its headers (it holds the request, then answers:
    what an overloaded or queueing provider does), the other shape of a slow tail
A hedged late request waits for hd-a's p90 and then takes hd-b's first token, so its time is
about p90(hd-a) + hd-b's first token: the ratio to the fast path depends on how quick the hedge
channel is (with a hedge as slow as the first channel it would be about 2x; the figure printed
is for the setup above).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from scripts.stack import Proxy, Simulator, openai_client, start_proxy, start_simulator

LATE = {"share": 0.1, "ms": 2000}


def _config(simulator: Simulator, hedging: bool) -> Path:
    def deployment(name: str, provider: str, info: dict[str, Any]) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": f"{simulator.url(provider)}/v1",
                "api_key": "sk-bench",
            },
            "model_info": {"id": name, "local": False, **info},
        }

    document = {
        "model_list": [
            deployment(
                "hd-a", "a", {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7, "quality": 0.9}
            ),
            deployment("hd-b", "b", {"input_cost_per_token": 0, "output_cost_per_token": 0, "quality": 0.5}),
        ],
        "litellm_settings": {
            "callbacks": ["router_ext.hook.proxy_handler"],
            "disable_hf_tokenizer_download": True,
        },
        "smart_router": {
            "strategy": "quality_optimized",  # ranks hd-a first whatever the timings
            "log_requests": False,
            "schedule": {"discovery": None, "prices": None},
            "hedging": {"enabled": hedging, "strategies": ["quality_optimized"], "floor_ms": 100},
        },
    }
    path = Path(tempfile.mkdtemp(prefix="bench-hedge-")) / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _first_token_s(proxy: Proxy) -> float:
    started = time.perf_counter()
    stream = openai_client(proxy, timeout=60).chat.completions.create(
        model="tag:hd", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=16
    )
    first = None
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None
    return first


def _load(proxy: Proxy, requests: int, concurrency: int = 4) -> dict[str, float]:
    for _ in range(12):  # the channel's p90 is learned from its first streams
        _first_token_s(proxy)
    with ThreadPoolExecutor(concurrency) as pool:
        times = sorted(pool.map(lambda _: _first_token_s(proxy), range(requests)))
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p90_ms": times[int(0.9 * (len(times) - 1))] * 1000,
        "p99_ms": times[int(0.99 * (len(times) - 1))] * 1000,
        "max_ms": times[-1] * 1000,
    }


def _late(simulator: Simulator, shape: str | None) -> None:
    """shape: "first_token" (headers at once, first token late), "headers" (nothing before the
    late answer), or None."""
    httpx.post(
        f"{simulator.url('a')}/_control",
        json={
            "first_token_late": LATE if shape == "first_token" else None,
            "headers_late": LATE if shape == "headers" else None,
        },
    )


def bench_hedging(requests: int = 200) -> dict[str, Any]:
    simulator = start_simulator(
        {
            "providers": [
                {
                    "name": "a",
                    "models": ["hd-a"],
                    "api_key": "sk-bench",
                    "first_token_ms": 300,
                    "first_token_jitter_ms": 100,
                },
                {
                    "name": "b",
                    "models": ["hd-b"],
                    "api_key": "sk-bench",
                    "first_token_ms": 40,
                    "first_token_jitter_ms": 20,
                },
            ]
        }
    )
    found: dict[str, dict[str, float]] = {}
    try:
        for name, hedging, late in (
            ("fast path (hedging on, no late tokens)", True, None),
            ("late tail, hedged", True, "first_token"),
            ("late tail, no hedging", False, "first_token"),
            ("late headers, hedged", True, "headers"),
            ("late headers, no hedging", False, "headers"),
        ):
            _late(simulator, late)
            proxy = start_proxy(_config(simulator, hedging))
            try:
                found[name] = _load(proxy, requests)
                if hedging:
                    found[name].update(_hedges(proxy))
            finally:
                proxy.stop()
            print(
                f"   {name}: time to first token p50 {found[name]['p50_ms']:.0f} ms, p99 {found[name]['p99_ms']:.0f} ms",
                flush=True,
            )
    finally:
        simulator.stop()
    fast = found["fast path (hedging on, no late tokens)"]["p99_ms"]
    return {
        "requests": requests,
        "runs": found,
        "hedged_p99_over_fast_p99": found["late tail, hedged"]["p99_ms"] / fast,
        "unhedged_p99_over_fast_p99": found["late tail, no hedging"]["p99_ms"] / fast,
        "late_headers_hedged_p99_over_fast_p99": found["late headers, hedged"]["p99_ms"] / fast,
        "late_headers_unhedged_p99_over_fast_p99": found["late headers, no hedging"]["p99_ms"] / fast,
    }


def _hedges(proxy: Proxy) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    records = httpx.get(
        f"{proxy.base_url}/routing/records", params={"limit": "1000"}, headers=headers
    ).json()["records"]
    hedged = [r for r in records if r.get("hedge") and '"after_ms":null' not in r["hedge"]]
    won = [r for r in hedged if r["deployment_id"] == "hd-b"]
    return {"hedges_sent": float(len(hedged)), "hedges_won": float(len(won))}


if __name__ == "__main__":
    result = bench_hedging()
    print(f"   hedged p99 / fast path p99: {result['hedged_p99_over_fast_p99']:.2f} (target <= 1.2)")
    print(f"   unhedged p99 / fast path p99: {result['unhedged_p99_over_fast_p99']:.2f}")
    print(
        f"   late headers, hedged p99 / fast path p99: {result['late_headers_hedged_p99_over_fast_p99']:.2f} (target <= 1.2)"
    )
