"""Streamed answers in `make bench`: chunks/s of 10 concurrent 1,000-chunk streams and the time
to the first chunk, straight from the upstream vs through plain LiteLLM vs through smart-router,
in one run (#17's baseline: the same-format fast path is what would move these).

The client reads raw SSE lines (httpx, no SDK parsing) so that the figure is the proxy's, and
the upstream is the simulator on 127.0.0.1 sending 1,000 chunks as fast as it can.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from scripts.stack import Proxy, start_proxy, start_simulator

WORDS = 1000
MESSAGES_DIRECT = "Messages: direct"
BODY = {
    "model": "m-stream",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "max_tokens": 2000,
}


MESSAGES_BODY = {
    "model": "claude-bench",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "max_tokens": 2000,
}


def _config(api_base: str, smart: bool, relay: bool = False, anthropic_base: str = "") -> Path:
    document: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "m-stream",
                "litellm_params": {"model": "openai/m-stream", "api_base": api_base, "api_key": "sk-bench"},
                "model_info": {
                    "id": "d-stream",
                    "tags": ["stream"],
                    "input_cost_per_token": 1e-7,
                    "output_cost_per_token": 2e-7,
                },
            },
            {
                "model_name": "claude-bench",
                "litellm_params": {
                    "model": "anthropic/claude-bench",
                    "api_base": anthropic_base,
                    "api_key": "sk-bench",
                },
                "model_info": {
                    "id": "d-claude",
                    "tags": ["claude"],
                    "input_cost_per_token": 1e-7,
                    "output_cost_per_token": 2e-7,
                },
            },
        ],
        "litellm_settings": {"disable_hf_tokenizer_download": True},
        "router_settings": {"num_retries": 0},
    }
    if smart:
        document["litellm_settings"]["callbacks"] = ["router_ext.hook.proxy_handler"]
        document["smart_router"] = {
            "log_requests": False,
            "fast_streams": relay,
            "schedule": {"discovery": None, "prices": None},
        }
    path = Path(tempfile.mkdtemp(prefix="bench-streams-")) / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _is_first_content(line: str) -> bool:
    if '"text_delta"' in line:  # Anthropic Messages
        return True
    return '"content"' in line and bool(json.loads(line[6:]).get("choices"))


def _stream(client: httpx.Client, url: str, key: str, model: str) -> tuple[float, int]:
    """(seconds to the first content chunk, chunks)."""
    started, first, chunks = time.perf_counter(), None, 0
    messages = url.endswith("/messages")
    body = {**(MESSAGES_BODY if messages else BODY), "model": model}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"} if messages else {}
    with client.stream(
        "POST", url, json=body, headers={"Authorization": f"Bearer {key}", **headers}
    ) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunks += 1
            if first is None and _is_first_content(line):
                first = time.perf_counter() - started
    return first or 0.0, chunks


def _measure(url: str, key: str, model: str, concurrency: int = 10, firsts_of: int = 60) -> dict[str, float]:
    """The first chunk over one kept connection, as SDKs and agents send (a client per stream,
    as `httpx.stream` makes, spent ~20 ms building its TLS context inside the measured time);
    chunks/s over `concurrency` connections at once."""
    with httpx.Client(timeout=120) as client:
        for _ in range(5):
            _stream(client, url, key, model)
        firsts = [_stream(client, url, key, model)[0] * 1000 for _ in range(firsts_of)]
        chat = not url.endswith("/messages")
        small = [_small(client, url, key, model) for _ in range(firsts_of)] if chat else []
    clients = [httpx.Client(timeout=120) for _ in range(concurrency)]
    began = time.perf_counter()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            counts = [c for _, c in pool.map(lambda c: _stream(c, url, key, model), clients)]
    finally:
        for client in clients:
            client.close()
    elapsed = time.perf_counter() - began
    found = {
        "first_chunk_median_ms": statistics.median(firsts),
        "chunks_per_s": sum(counts) / elapsed,
        "chunks": float(counts[0]),
    }
    if small:
        found["non_stream_median_ms"] = statistics.median(small)
    return found


def _small(client: httpx.Client, url: str, key: str, model: str) -> float:
    """A non-streamed request's time: the proxy's whole per-request path, for comparison."""
    began = time.perf_counter()
    answer = client.post(
        url, json={**BODY, "model": model, "stream": False}, headers={"Authorization": f"Bearer {key}"}
    )
    answer.raise_for_status()
    return (time.perf_counter() - began) * 1000


def bench_streams() -> dict[str, Any]:
    simulator = start_simulator(
        {
            "providers": [
                {"name": "up", "models": ["m-stream"], "api_key": "sk-bench", "stream_words": WORDS},
                {
                    "name": "claude",
                    "models": ["claude-bench"],
                    "api_key": "sk-bench",
                    "native": ["messages"],
                    "stream_words": WORDS,
                },
            ]
        }
    )
    api_base, anthropic_base = f"{simulator.url('up')}/v1", simulator.url("claude")
    found: dict[str, dict[str, float]] = {}
    try:
        found["direct"] = _measure(f"{api_base}/chat/completions", "sk-bench", "m-stream")
        print(
            f"   direct: {found['direct']['chunks_per_s']:.0f} chunks/s, first chunk "
            f"{found['direct']['first_chunk_median_ms']:.1f} ms, non-streamed answer {found['direct']['non_stream_median_ms']:.1f} ms",
            flush=True,
        )
        found[MESSAGES_DIRECT] = _measure(f"{anthropic_base}/v1/messages", "sk-bench", "claude-bench")
        print(f"   {MESSAGES_DIRECT}: {found[MESSAGES_DIRECT]['chunks_per_s']:.0f} chunks/s", flush=True)
        for name, smart, relay, model, path in (
            ("plain LiteLLM", False, False, "m-stream", "chat/completions"),
            ("smart-router (plain name)", True, False, "m-stream", "chat/completions"),
            ("smart-router (tag:stream)", True, False, "tag:stream", "chat/completions"),
            ("smart-router relay (tag:stream, fast_streams)", True, True, "tag:stream", "chat/completions"),
            ("Messages: plain LiteLLM", False, False, "claude-bench", "messages"),
            ("Messages: smart-router (tag:claude)", True, True, "tag:claude", "messages"),
        ):
            config = _config(api_base, smart, relay, anthropic_base)
            proxy: Proxy = start_proxy(config, plain_litellm=not smart, timeout=600)
            try:
                if smart:  # past its staged start (the record store starts after the first answer)
                    proxy.wait_store()
                found[name] = _measure(f"{proxy.base_url}/v1/{path}", proxy.master_key, model)
            finally:
                proxy.stop()
            small = found[name].get("non_stream_median_ms")
            print(
                f"   {name}: {found[name]['chunks_per_s']:.0f} chunks/s, first chunk {found[name]['first_chunk_median_ms']:.1f} ms"
                + (f", non-streamed answer {small:.1f} ms" if small is not None else ""),
                flush=True,
            )
    finally:
        simulator.stop()
    plain, ours = found["plain LiteLLM"], found["smart-router relay (tag:stream, fast_streams)"]
    direct = found["direct"]
    return {
        # LiteLLM's own floor: a plain LiteLLM non-streamed answer over the upstream's own time
        "plain_non_stream_over_direct_ms": plain["non_stream_median_ms"] - direct["non_stream_median_ms"],
        "plain_first_chunk_over_direct_ms": plain["first_chunk_median_ms"] - direct["first_chunk_median_ms"],
        "runs": found,
        "messages_smart_over_plain_chunks_per_s": found["Messages: smart-router (tag:claude)"]["chunks_per_s"]
        / found["Messages: plain LiteLLM"]["chunks_per_s"],
        "smart_over_plain_chunks_per_s": ours["chunks_per_s"] / plain["chunks_per_s"],
        "first_chunk_over_direct_ms": ours["first_chunk_median_ms"]
        - found["direct"]["first_chunk_median_ms"],
    }


if __name__ == "__main__":
    result = bench_streams()
    print(
        f"   smart-router / plain LiteLLM chunks/s: {result['smart_over_plain_chunks_per_s']:.2f} (target >= 5)"
    )
    print(f"   first chunk over direct: {result['first_chunk_over_direct_ms']:.1f} ms (target <= 10)")
