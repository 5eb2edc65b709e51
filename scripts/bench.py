"""`make bench`: smart-router side by side with plain LiteLLM, all in one run (ratios hold on a
noisy machine), against simulated providers on 127.0.0.1.

    uv run python -m scripts.bench [--full] [--out docs]

Writes docs/benchmarks.md, docs/benchmarks.json and PNG plots:
  1. route decision (parse + filter + score + rank) at 10 / 100 / 1,000 / 10,000 deployments
  2. end to end with 1,000 deployments: plain LiteLLM proxy vs proxy + smart-router, the same
     upstream, sequential and 20 concurrent
  3. our cost_first against LiteLLM's cost-based-routing on the same catalogue
  4. resident memory of the proxy with and without smart-router at 10,000 deployments
  5. cold start: time to the first routed answer with 1,000 deployments
  6. workers: requests/s with 1 and 2 workers, and plain LiteLLM with 2
  7. hedged streams: p99 time to first token with a late tail, hedged vs not (bench_hedging.py)
  8. streamed answers: chunks/s and first chunk, direct vs plain LiteLLM vs smart-router (bench_streams.py)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from catalog.index import TagIndex
from catalog.query import parse_tag_query
from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec
from router_ext.litellm_seam.version import litellm_version
from scripts.bench_difficulty import bench_difficulty
from scripts.bench_hedging import bench_hedging
from scripts.bench_routing import percentiles, synthetic_catalog
from scripts.bench_streams import bench_streams
from scripts.bench_workers import bench_workers
from scripts.stack import Proxy, openai_client, start_proxy, start_simulator
from strategies.base import RequestFacts
from strategies.decision import NoChannelError, decide
from strategies.observations import Observations
from strategies.registry import build_strategies

HELLO = [{"role": "user", "content": "hello"}]
TARGETS = {
    "decision_p99_ms_1000": 0.2,
    "decision_p99_ms_10000": 1.0,
    "e2e_median_ratio": 1.03,
    "throughput_ratio": 0.97,
    "memory_added_mb_10000": 50.0,
    "cold_start_added_s_1000": 1.0,
    "hedged_p99_over_fast_p99": 1.2,
    "two_workers_over_one": 1.8,
    "stream_chunks_smart_over_plain": 5.0,
    "stream_first_chunk_over_direct_ms": 10.0,
    "catalogue_writes_ms_1000": 200.0,
    "classifier_p99_ms_2k_tokens": 0.2,
    "smart_decision_p99_ms_1000": 0.3,
    "smart_decision_p99_ms_10000": 1.0,
    "hard_prompts_at_floor": 1.0,
}
COMPAT_PYTHON = Path(".venv-compat/bin/python")  # `make compat-env`: the newest LiteLLM that installs here


def bench_catalogue_everywhere(size: int = 1000) -> list[dict[str, Any]]:
    """The catalogue's writes to the Router on this LiteLLM, and on the compat one when it is built."""
    from scripts.bench_catalogue import bench_catalogue_writes

    rows = [bench_catalogue_writes(size)]
    if COMPAT_PYTHON.exists() and Path(sys.prefix).resolve() != COMPAT_PYTHON.parent.parent.resolve():
        done = subprocess.run(
            [str(COMPAT_PYTHON), "-m", "scripts.bench_catalogue", "--size", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout[: done.stdout.rindex("}") + 1]))
    return rows


# -- 1. route decision --------------------------------------------------------------------------
def bench_decision(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    strategies = build_strategies()
    request = RequestFacts(prompt_tokens=300, max_output_tokens=512)
    specs = {
        "tag:qwen,free": RouteSpec("tag:qwen,free", query=parse_tag_query("tag:qwen,free")),
        "auto": BUILTIN_VIRTUAL_MODELS["auto"],
    }
    cases: list[tuple[int, str, Callable[[], object]]] = []
    for size in sizes:
        index = TagIndex(synthetic_catalog(size))
        observations = Observations(index)
        for name, spec in specs.items():

            def once(
                spec: RouteSpec = spec, index: TagIndex = index, obs: Observations = observations
            ) -> object:
                parse_tag_query(spec.name) if spec.query is not None else None
                try:
                    return decide(index, spec, strategies["balanced"], request, 5, obs)
                except NoChannelError as error:
                    return error

            cases.append((size, name, once))
    # One case at a time, in a tight loop (caches warm: the usual microbenchmark). Measured
    # call by call across all cases instead, every figure is 1.5-5x higher: each call then
    # meets cold CPU caches, as a decision inside a busy proxy does (see docs/benchmarks.md).
    rows = []
    for size, name, call in cases:
        p50, p99 = percentiles(call, runs)
        rows.append({"deployments": size, "query": name, "p50_ms": p50, "p99_ms": p99})
        print(f"  decision {size:>6} {name:<14} p50 {p50:.4f} ms  p99 {p99:.4f} ms", flush=True)
    return rows


# -- 3. cost_first vs LiteLLM cost-based-routing ---------------------------------------------
def priced_model_list(size: int, api_base: str = "http://127.0.0.1:9/v1") -> list[dict[str, Any]]:
    """One group of `size` deployments with distinct prices (so "the cheapest" is one)."""
    return [
        {
            "model_name": "bench",
            "litellm_params": {"model": f"openai/m-{i:05d}", "api_base": api_base, "api_key": "sk-bench"},
            "model_info": {
                "id": f"d-{i:05d}",
                "input_cost_per_token": 1e-6 + ((i * 7919) % size) * 1e-9,
                "output_cost_per_token": 2e-6 + ((i * 7919) % size) * 1e-9,
                "tags": ["bench"],
            },
        }
        for i in range(size)
    ]


def bench_cost_routing(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    import litellm

    from router_ext.catalogue.channels import channels_from_model_list
    from router_ext.litellm_seam import router_registry

    rows = []
    strategies = build_strategies()
    request = RequestFacts(prompt_tokens=10, max_output_tokens=16)
    spec = RouteSpec("tag:bench", query=parse_tag_query("tag:bench"))
    for size in sizes:
        model_list = priced_model_list(size)
        router = litellm.Router(model_list=model_list, routing_strategy="cost-based-routing")
        index = TagIndex(channels_from_model_list(router_registry.deployments(router)))
        observations = Observations(index)
        loop = asyncio.new_event_loop()

        def theirs(loop: asyncio.AbstractEventLoop = loop, router: Any = router) -> Any:
            return loop.run_until_complete(router_registry.pick_deployment(router, "bench", HELLO))

        def ours(index: TagIndex = index, observations: Observations = observations) -> Any:
            return decide(index, spec, strategies["cost_first"], request, 5, observations)

        their_choice = str(theirs()["model_info"]["id"])
        our_choice = ours().ranked[0].id
        their_runs = max(50, runs // 10) if size >= 1000 else runs
        t50, t99 = percentiles(theirs, their_runs)
        o50, o99 = percentiles(ours, runs)
        loop.close()
        rows.append(
            {
                "deployments": size,
                "litellm_p50_ms": t50,
                "litellm_p99_ms": t99,
                "ours_p50_ms": o50,
                "ours_p99_ms": o99,
                "litellm_choice": their_choice,
                "our_choice": our_choice,
                "same_choice": their_choice == our_choice,
            }
        )
        print(
            f"  cost routing {size:>6}: LiteLLM p50 {t50:.3f} ms / ours {o50:.3f} ms; "
            f"same choice: {their_choice == our_choice} ({their_choice} / {our_choice})",
            flush=True,
        )
    return rows


# -- 2, 4, 5. proxies -----------------------------------------------------------------------------
def proxy_config(size: int, api_base: str, smart: bool) -> Path:
    model_list = [
        {
            "model_name": f"m-{i:05d}",
            "litellm_params": {"model": "openai/m-bench", "api_base": api_base, "api_key": "sk-bench"},
            "model_info": {
                "id": f"d-{i:05d}",
                "tags": ["bench", f"n{i}"],
                "input_cost_per_token": 1e-7,
                "output_cost_per_token": 2e-7,
            },
        }
        for i in range(size)
    ]
    document: dict[str, Any] = {
        "model_list": model_list,
        "litellm_settings": {"disable_hf_tokenizer_download": True, "drop_params": True},
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
    }
    if smart:
        document["litellm_settings"]["callbacks"] = ["router_ext.hook.proxy_handler"]
        document["smart_router"] = {
            "strategy": "balanced",
            "discovery": {"on_start": False},
            "log_requests": False,
        }
    path = Path(tempfile.mkdtemp(prefix="bench-")) / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def started(config: Path, smart: bool) -> tuple[Proxy, float]:
    """A proxy and its cold start: spawn -> first routed answer."""
    began = time.perf_counter()
    # Both bridge Anthropic Messages through chat completions, as smart-router sets up by itself.
    proxy = start_proxy(config, plain_litellm=not smart, timeout=600, env=BRIDGE_MESSAGES)
    client = openai_client(proxy, timeout=120)
    client.chat.completions.create(model="m-00000", messages=HELLO, max_tokens=4)
    return proxy, time.perf_counter() - began


def rss_mb(proxy: Proxy) -> float:
    import psutil

    process = psutil.Process(proxy.process.pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def load(
    proxy: Proxy, model: Callable[[int], str], requests: int, concurrency: int, warm: bool = True
) -> dict[str, Any]:
    client = openai_client(proxy, timeout=120)
    for i in range(20 if warm else 0):  # warm: route tables, connection pools
        client.chat.completions.create(model=model(i), messages=HELLO, max_tokens=4)

    def one(i: int) -> float:
        began = time.perf_counter()
        client.chat.completions.create(model=model(i), messages=HELLO, max_tokens=4)
        return (time.perf_counter() - began) * 1000

    began = time.perf_counter()
    if concurrency == 1:
        latencies = [one(i) for i in range(requests)]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - began
    return {**figures(latencies, elapsed), "latencies": latencies, "elapsed_s": elapsed}


def figures(latencies: list[float], elapsed_s: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
        "rps": len(ordered) / elapsed_s,
    }


Workload = tuple[str, str, Callable[[int], str]]


def interleaved(
    proxies: dict[str, Proxy], workloads: list[Workload], requests: int, concurrency: int, blocks: int
) -> dict[tuple[str, str], dict[str, float]]:
    """Every workload measured in turns, so a slow second on this shared box hits each alike:
    one request each in turn when sequential, `blocks` short bursts each in turn when concurrent."""
    clients = {name: openai_client(proxies[name], timeout=120) for name in proxies}
    latencies: dict[tuple[str, str], list[float]] = {(n, w): [] for n, w, _ in workloads}
    elapsed: dict[tuple[str, str], float] = dict.fromkeys(latencies, 0.0)

    def one(name: str, model: str) -> float:
        began = time.perf_counter()
        clients[name].chat.completions.create(model=model, messages=HELLO, max_tokens=4)
        return (time.perf_counter() - began) * 1000

    if concurrency == 1:
        for i in range(requests):
            for name, workload, model in workloads:
                took = one(name, model(i))
                latencies[(name, workload)].append(took)
                elapsed[(name, workload)] += took / 1000
    else:
        per_block = max(concurrency, requests // blocks)
        with ThreadPoolExecutor(concurrency) as pool:
            for block in range(blocks):
                for name, workload, model in workloads:
                    began = time.perf_counter()
                    start = block * per_block
                    names = [model(i) for i in range(start, start + per_block)]
                    latencies[(name, workload)] += pool.map(lambda m, n=name: one(n, m), names)
                    elapsed[(name, workload)] += time.perf_counter() - began
    return {key: figures(values, elapsed[key]) for key, values in latencies.items()}


BRIDGE_MESSAGES = {"LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "true"}


def bench_endpoints(
    proxies: dict[str, Proxy], requests: int, position: Callable[[int], int]
) -> list[dict[str, Any]]:
    """/v1/messages and /v1/responses over the same bridge (chat completions upstream), plain
    LiteLLM on a model name vs smart-router on a one-match tag, one request each in turn."""
    import anthropic

    claude = {
        name: anthropic.Anthropic(
            base_url=proxy.base_url, api_key=proxy.master_key, max_retries=0, timeout=120
        )
        for name, proxy in proxies.items()
    }
    openai_clients = {name: openai_client(proxy, timeout=120) for name, proxy in proxies.items()}

    def messages(name: str, model: str) -> None:
        claude[name].messages.create(model=model, max_tokens=4, messages=HELLO)  # type: ignore[arg-type]

    def responses(name: str, model: str) -> None:
        # plain LiteLLM is asked to bridge per request; smart-router decides that itself
        extra = {"use_chat_completions_api": True} if name == "plain LiteLLM" else {}
        openai_clients[name].responses.create(
            model=model, input="hello", max_output_tokens=16, extra_body=extra
        )

    calls = {"messages": messages, "responses": responses}
    workloads = [
        (endpoint, "plain LiteLLM", "model name", lambda i: f"m-{position(i):05d}") for endpoint in calls
    ] + [
        (endpoint, "smart-router", "tag:n<i> (1 match)", lambda i: f"tag:n{position(i)}")
        for endpoint in calls
    ]
    for endpoint, name, _, model in workloads:  # warm: first use of each deployment
        for i in range(50):
            calls[endpoint](name, model(i))
    latencies: dict[tuple[str, str, str], list[float]] = {(e, n, w): [] for e, n, w, _ in workloads}
    for i in range(requests):
        for endpoint, name, workload, model in workloads:
            began = time.perf_counter()
            calls[endpoint](name, model(i))
            latencies[(endpoint, name, workload)].append((time.perf_counter() - began) * 1000)
    rows = []
    for (endpoint, name, workload), values in latencies.items():
        row = {
            "endpoint": endpoint,
            "proxy": name,
            "request": workload,
            "concurrency": 1,
            **figures(values, sum(values) / 1000),
        }
        rows.append(row)
        print(
            f"  e2e {endpoint:<9} {name:<14} {workload:<20} c=1  median {row['median_ms']:.2f} ms", flush=True
        )
    return rows


def bench_proxies(size: int, memory_size: int, requests: int, cold_rounds: int) -> dict[str, Any]:
    simulator = start_simulator({"providers": [{"name": "up", "models": ["m-bench"], "api_key": "sk-bench"}]})
    api_base = f"{simulator.url('up')}/v1"
    result: dict[str, Any] = {"e2e": [], "cold_start_s": {}, "memory_mb": {}}
    try:
        proxies: dict[str, Proxy] = {}
        colds: dict[str, list[float]] = {}
        for round_ in range(cold_rounds):  # interleaved pairs: a start is ~20 s of LiteLLM, noisy
            for smart in (False, True):
                name = "smart-router" if smart else "plain LiteLLM"
                if name in proxies:
                    proxies[name].stop()
                proxies[name], cold = started(proxy_config(size, api_base, smart), smart)
                colds.setdefault(name, []).append(cold)
                if smart:  # our own share, measured inside the proxy (logged by the hook)
                    found = re.search(r"smart-router: ready in (\d+) ms", proxies[name].log())
                    if found:
                        result.setdefault("own_startup_ms", []).append(float(found.group(1)))
                print(
                    f"  cold start {name} (round {round_ + 1}): {cold:.2f} s ({size} deployments)", flush=True
                )
        result["cold_start_s"] = {name: statistics.median(values) for name, values in colds.items()}
        result["cold_start_runs_s"] = colds
        # The median of the paired differences: a slow minute on this box hits both of a pair.
        result["cold_start_added_s"] = statistics.median(
            s - p for p, s in zip(colds["plain LiteLLM"], colds["smart-router"], strict=True)
        )
        # The same 50 deployments for every workload, each called once on each proxy first:
        # LiteLLM builds an HTTP client per deployment on first use (~10 ms), which is its cost,
        # not routing's, and would otherwise land on whichever workload meets a deployment first.
        spread = 50

        def position(i: int) -> int:
            return ((i % spread) * 37) % size

        workloads: list[Workload] = [
            ("plain LiteLLM", "model name", lambda i: f"m-{position(i):05d}"),
            ("smart-router", "model name", lambda i: f"m-{position(i):05d}"),
            ("smart-router", "tag:n<i> (1 match)", lambda i: f"tag:n{position(i)}"),
            ("smart-router", f"tag:bench ({size} candidates)", lambda i: "tag:bench"),
        ]
        for proxy_name, _, model in workloads:
            load(proxies[proxy_name], model, spread, 1)
        for concurrency in (1, 20):
            measured = interleaved(proxies, workloads, requests, concurrency, blocks=10)
            for (name, workload), row_figures in measured.items():
                row = {"proxy": name, "request": workload, "concurrency": concurrency, **row_figures}
                result["e2e"].append(row)
                print(
                    f"  e2e {name:<14} {workload:<28} c={concurrency:<2} median {row['median_ms']:.2f} ms "
                    f"p95 {row['p95_ms']:.2f} ms  {row['rps']:.0f} req/s",
                    flush=True,
                )
        result["endpoints"] = bench_endpoints(proxies, max(100, requests // 4), position)
        for proxy in proxies.values():
            proxy.stop()
        for smart in (False, True):
            name = "smart-router" if smart else "plain LiteLLM"
            proxy, _ = started(proxy_config(memory_size, api_base, smart), smart)
            load(proxy, (lambda i: "tag:bench") if smart else (lambda i: f"m-{i:05d}"), 20, 1)
            result["memory_mb"][name] = rss_mb(proxy)
            print(
                f"  memory {name}: {result['memory_mb'][name]:.0f} MB ({memory_size} deployments)", flush=True
            )
            proxy.stop()
    finally:
        simulator.stop()
    return result


# -- report ----------------------------------------------------------------------------------------
def ratios(proxies: dict[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    rows = {(r["proxy"], r["request"], r["concurrency"]): r for r in proxies["e2e"]}
    for concurrency in (1, 20):
        plain = rows[("plain LiteLLM", "model name", concurrency)]
        for (name, workload, c), row in rows.items():
            if name != "smart-router" or c != concurrency:
                continue
            found[f"median ratio, {workload}, c={concurrency}"] = row["median_ms"] / plain["median_ms"]
            found[f"throughput ratio, {workload}, c={concurrency}"] = row["rps"] / plain["rps"]
    by_endpoint = {(r["endpoint"], r["proxy"]): r for r in proxies.get("endpoints", [])}
    for endpoint in ("messages", "responses"):
        plain, smart = (
            by_endpoint.get((endpoint, "plain LiteLLM")),
            by_endpoint.get((endpoint, "smart-router")),
        )
        if plain and smart:
            found[f"median ratio, /v1/{endpoint} tag:n<i> (1 match), c=1"] = (
                smart["median_ms"] / plain["median_ms"]
            )
    return found


def plot(report: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    figure, axis = plt.subplots(figsize=(6, 4))
    for query in ("tag:qwen,free", "auto"):
        rows = [r for r in report["decision"] if r["query"] == query]
        axis.plot(
            [r["deployments"] for r in rows], [r["p99_ms"] for r in rows], marker="o", label=f"{query} p99"
        )
        axis.plot(
            [r["deployments"] for r in rows],
            [r["p50_ms"] for r in rows],
            marker=".",
            ls="--",
            label=f"{query} p50",
        )
    axis.plot(
        [1000, 10000],
        [TARGETS["decision_p99_ms_1000"], TARGETS["decision_p99_ms_10000"]],
        "r:",
        label="target p99",
    )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("deployments")
    axis.set_ylabel("ms")
    axis.set_title("Route decision time")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "bench_decision.png", dpi=110)
    files.append("bench_decision.png")
    plt.close(figure)

    rows = report["proxies"]["e2e"]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, concurrency in zip(axes, (1, 20), strict=True):
        subset = [r for r in rows if r["concurrency"] == concurrency]
        labels = [f"{r['proxy']}\n{r['request']}" for r in subset]
        axis.bar(range(len(subset)), [r["median_ms"] for r in subset], label="median")
        axis.plot(range(len(subset)), [r["p95_ms"] for r in subset], "k_", markersize=20, label="p95")
        axis.set_xticks(range(len(subset)), labels, fontsize=6)
        axis.set_ylabel("ms")
        axis.set_title(f"End to end, 1,000 deployments, concurrency {concurrency}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "bench_e2e.png", dpi=110)
    files.append("bench_e2e.png")
    plt.close(figure)
    return files


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"`make bench` ({report['mode']} mode), {report['when']}, {report['machine']}, "
        f"LiteLLM {report.get('litellm', '?')}. All figures come from one run:",
        "compare the ratios, not absolute times (this box is shared and noisy).",
        "",
        "## 1. Route decision (parse + filter + score + rank, strategy `balanced`)",
        "",
        "| deployments | query | p50 ms | p99 ms |",
        "|---:|---|---:|---:|",
    ]
    lines += [
        f"| {r['deployments']:,} | `{r['query']}` | {r['p50_ms']:.4f} | {r['p99_ms']:.4f} |"
        for r in report["decision"]
    ]
    lines += [
        "",
        "![decision](bench_decision.png)",
        "",
        "## 2. End to end, plain LiteLLM vs LiteLLM + smart-router",
        "",
    ]
    lines += [
        "Same simulated upstream, 1,000 deployments. `model name` = the same concrete name for both (our hooks "
        "only); `tag:` = a virtual name resolved by smart-router into one deployment.",
        "",
        "| proxy | request | concurrency | median ms | p95 ms | req/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['proxy']} | {r['request']} | {r['concurrency']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['rps']:.1f} |"
        for r in report["proxies"]["e2e"]
    ]
    lines += ["", "| ratio (smart-router / plain) | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in report["ratios"].items()]
    lines += [
        "",
        "![end to end](bench_e2e.png)",
        "",
        "## 3. `cost_first` vs LiteLLM `cost-based-routing`",
        "",
    ]
    lines += [
        "| deployments | LiteLLM p50 ms | LiteLLM p99 ms | ours p50 ms | ours p99 ms | same choice |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['deployments']:,} | {r['litellm_p50_ms']:.3f} | {r['litellm_p99_ms']:.3f} | {r['ours_p50_ms']:.3f} "
        f"| {r['ours_p99_ms']:.3f} | {'yes' if r['same_choice'] else 'NO'} ({r['litellm_choice']}) |"
        for r in report["cost_routing"]
    ]
    memory = report["proxies"]["memory_mb"]
    cold = report["proxies"]["cold_start_s"]
    lines += [
        "",
        f"## 4. Resident memory at {report['memory_deployments']:,} deployments",
        "",
        "| proxy | RSS MB |",
        "|---|---:|",
        *(f"| {k} | {v:.0f} |" for k, v in memory.items()),
        f"| added by smart-router | {memory['smart-router'] - memory['plain LiteLLM']:.0f} |",
        "",
        "## 5. Cold start (spawn -> first answer), 1,000 deployments",
        "",
        "| proxy | seconds (median) | each start |",
        "|---|---:|---|",
        *(
            f"| {k} | {v:.2f} | {', '.join(f'{x:.1f}' for x in report['proxies']['cold_start_runs_s'][k])} |"
            for k, v in cold.items()
        ),
        f"| added by smart-router (median of paired differences) | {report['proxies']['cold_start_added_s']:.2f} | |",
        "",
        "smart-router's own start-up inside the proxy (import, config, routes; the hook's log line): "
        + ", ".join(f"{v:.0f} ms" for v in report["proxies"].get("own_startup_ms", [])),
        "",
        *_workers_and_hedging(report),
        *_difficulty(report),
        "",
        "## Targets",
        "",
        "| target | figure | met |",
        "|---|---:|---|",
    ]
    for name, figure, limit, higher_is_better in report["targets"]:
        met = figure >= limit if higher_is_better else figure <= limit
        lines.append(
            f"| {name} ({'>=' if higher_is_better else '<='} {limit}) | {figure:.3f} | {'yes' if met else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def _workers_and_hedging(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "workers" in report:
        lines += [
            f"## Workers: non-streamed requests/s at {report['workers']['concurrency']} concurrent",
            "",
            "| proxy | requests/s | proxy CPU ms / request | upstream CPU ms | load generator CPU ms |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {name} | {run['rps']:.1f} | {run['cpu_ms_per_request_proxy']:.2f} | "
                f"{run['cpu_ms_per_request_upstream']:.2f} | {run['cpu_ms_per_request_client']:.2f} |"
                for name, run in report["workers"]["runs"].items()
            ),
            "",
            f"2 workers / 1: smart-router {report['workers']['two_over_one']:.2f}x, plain LiteLLM "
            f"{report['workers']['plain_two_over_one']:.2f}x; two CPU-bound processes on this box at that time: "
            f"{report['workers'].get('box_two_over_one', float('nan')):.2f}x one. Load: "
            f"{report['workers'].get('load_generator', 'python')}, upstream: {report['workers'].get('upstream', 'the simulator')} "
            "(scripts/bench_workers.py).",
            "",
        ]
    if "streams" in report:
        lines += [
            "## Streamed answers: 10 concurrent streams of about 1,000 chunks (scripts/bench_streams.py)",
            "",
            "| path | first chunk, median ms | chunks/s |",
            "|---|---:|---:|",
            *(
                f"| {name} | {run['first_chunk_median_ms']:.1f} | {run['chunks_per_s']:.0f} |"
                for name, run in report["streams"]["runs"].items()
            ),
            "",
            f"First chunk over direct: smart-router's relay {report['streams']['first_chunk_over_direct_ms']:.1f} ms, "
            f"plain LiteLLM {report['streams'].get('plain_first_chunk_over_direct_ms', float('nan')):.1f} ms; "
            f"plain LiteLLM's whole non-streamed answer over direct: "
            f"{report['streams'].get('plain_non_stream_over_direct_ms', float('nan')):.1f} ms "
            "(its per-request path, which the relay runs too: auth, hooks, the Router, logging).",
            "",
        ]
    if "catalogue_writes" in report:
        lines += [
            "## Catalogue writes to the Router: event-loop ms at 1,000 deployments (scripts/bench_catalogue.py)",
            "",
            "| LiteLLM | first index (framing) | price refresh | price window | reload, nothing changed |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {row['litellm']} | {row['first_index_ms']:.0f} | {row['price_refresh_ms']:.0f} | "
                f"{row['price_window_ms']:.0f} | {row['reload_no_change_ms']:.0f} |"
                for row in report["catalogue_writes"]
            ),
            "",
        ]
    if "hedging" in report:
        lines += [
            "## Hedged streams: time to first token, one channel 2 s late on 10 % of requests (its first token, or its headers)",
            "",
            "(scripts/bench_hedging.py says the setup; measured at the client)",
            "",
            "| load | p50 ms | p90 ms | p99 ms | hedges sent / won |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {name} | {run['p50_ms']:.0f} | {run['p90_ms']:.0f} | {run['p99_ms']:.0f} | "
                f"{int(run.get('hedges_sent', 0))} / {int(run.get('hedges_won', 0))} |"
                for name, run in report["hedging"]["runs"].items()
            ),
            "",
        ]
    return lines


def targets(report: dict[str, Any]) -> list[tuple[str, float, float, bool]]:
    p99: dict[int, float] = {}
    for row in report["decision"]:
        p99[row["deployments"]] = max(p99.get(row["deployments"], 0.0), row["p99_ms"])
    memory = report["proxies"]["memory_mb"]
    found = [
        (
            "decision p99 ms @1,000 (worst query)",
            p99.get(1000, float("nan")),
            TARGETS["decision_p99_ms_1000"],
            False,
        ),
        (
            "decision p99 ms @10,000 (worst query)",
            p99.get(10000, float("nan")),
            TARGETS["decision_p99_ms_10000"],
            False,
        ),
    ]
    for key, value in report["ratios"].items():
        if "tag:bench" in key:
            continue  # every deployment a candidate: shown, not a target
        if key.startswith("median ratio"):
            found.append((key, value, TARGETS["e2e_median_ratio"], False))
        else:
            found.append((key, value, TARGETS["throughput_ratio"], True))
    found.append(
        (
            "memory added MB",
            memory["smart-router"] - memory["plain LiteLLM"],
            TARGETS["memory_added_mb_10000"],
            False,
        )
    )
    found.append(
        (
            "cold start added s (median of paired starts)",
            report["proxies"]["cold_start_added_s"],
            TARGETS["cold_start_added_s_1000"],
            False,
        )
    )
    if "workers" in report:
        found.append(
            (
                "2 workers / 1 worker, requests/s",
                report["workers"]["two_over_one"],
                TARGETS["two_workers_over_one"],
                True,
            )
        )
    if "streams" in report:
        found.append(
            (
                "streamed chunks/s, 10 concurrent: smart-router / plain LiteLLM",
                report["streams"]["smart_over_plain_chunks_per_s"],
                TARGETS["stream_chunks_smart_over_plain"],
                True,
            )
        )
        found.append(
            (
                "first streamed chunk, ms over direct (median)",
                report["streams"]["first_chunk_over_direct_ms"],
                TARGETS["stream_first_chunk_over_direct_ms"],
                False,
            )
        )
    for row in report.get("catalogue_writes", []):
        found.append(
            (
                f"catalogue writes, worst event-loop ms @1,000, LiteLLM {row['litellm']}",
                max(v for k, v in row.items() if k.endswith("_ms")),
                TARGETS["catalogue_writes_ms_1000"],
                False,
            )
        )
    if "hedging" in report:
        found.append(
            (
                "hedged p99 time to first token / fast path p99",
                report["hedging"]["hedged_p99_over_fast_p99"],
                TARGETS["hedged_p99_over_fast_p99"],
                False,
            )
        )
        if "late_headers_hedged_p99_over_fast_p99" in report["hedging"]:
            found.append(
                (
                    "hedged p99 time to first token / fast path p99, upstream late before its headers",
                    report["hedging"]["late_headers_hedged_p99_over_fast_p99"],
                    TARGETS["hedged_p99_over_fast_p99"],
                    False,
                )
            )
    difficulty = report.get("difficulty")
    if difficulty:
        two_k = [v["p99_ms"] for k, v in difficulty["classifier"].items() if "2k" in k]
        found.append(
            (
                "prompt classifier p99 ms, 2,000 tokens (worst text)",
                max(two_k),
                TARGETS["classifier_p99_ms_2k_tokens"],
                False,
            )
        )
        for row in difficulty["decision"]:
            key = (
                "smart_decision_p99_ms_1000" if row["deployments"] == 1000 else "smart_decision_p99_ms_10000"
            )
            found.append(
                (
                    f"auto:smart decision p99 ms @{row['deployments']:,} (classifier on)",
                    row["p99_ms"],
                    TARGETS[key],
                    False,
                )
            )
        found.append(
            (
                "classified complex / reasoning prompts served at or above their floor",
                difficulty["routing"]["classified_hard_at_or_above_floor"],
                TARGETS["hard_prompts_at_floor"],
                True,
            )
        )
    return found


def _difficulty(report: dict[str, Any]) -> list[str]:
    difficulty = report.get("difficulty")
    if not difficulty:
        return []
    agreement, routing = difficulty["agreement"], difficulty["routing"]
    lines = [
        "",
        "## 10. Prompt difficulty (scripts/bench_difficulty.py)",
        "",
        "Classifier against the 323 hand-labelled prompts of tests/fixtures/difficulty (EN + ZH):",
        "",
        "| prompts | tier agreement | within one tier | kind agreement |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {lang} ({agreement[lang]['prompts']}) | {agreement[lang]['tier']:.3f} | "
        f"{agreement[lang]['within_one_tier']:.3f} | {agreement[lang]['kind']:.3f} |"
        for lang in ("en", "zh", "all")
    ]
    tiers = list(agreement["confusion"])
    lines += [
        "",
        "Confusion (rows: label, columns: classifier):",
        "",
        "| label | " + " | ".join(tiers) + " |",
    ]
    lines += ["|---|" + "---:|" * len(tiers)]
    lines += [
        f"| {t} | " + " | ".join(str(agreement["confusion"][t][p]) for p in tiers) + " |" for t in tiers
    ]
    cost = routing["cost_usd"]
    lines += [
        "",
        "The workload routed over two free, two cheap, one mid (thinking) and two strong channels "
        "(qualities from catalog/model_quality.json), output tokens by labelled tier:",
        "",
        "| | cost USD |",
        "|---|---:|",
        f"| `auto:smart` | {cost['auto:smart']:.4f} |",
        f"| always the strongest ({routing['strongest']}) | {cost['strongest']:.4f} |",
        f"| always the cheapest ({routing['cheapest']}) | {cost['cheapest']:.4f} |",
        "",
        f"Classified complex / reasoning served at or above their floor: "
        f"{routing['classified_hard_at_or_above_floor']:.3f}; labelled complex / reasoning at or above "
        f"the label's floor: {routing['labelled_at_or_above_floor']['complex']:.3f} / "
        f"{routing['labelled_at_or_above_floor']['reasoning']:.3f} (the classifier's misses); labelled "
        f"simple served free or cheap: {routing['simple_served_free_or_cheap']:.3f}. Served by: "
        + ", ".join(f"{k} {v}" for k, v in routing["served_by"].items()),
        "",
        "| classifier | p50 ms | p99 ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v['p50_ms']:.4f} | {v['p99_ms']:.4f} |" for k, v in difficulty["classifier"].items()]
    lines += [
        "",
        "| `auto:smart` decision (classify + floor + filters + rank) | p50 ms | p99 ms |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {r['deployments']:,} deployments | {r['p50_ms']:.4f} | {r['p99_ms']:.4f} |"
        for r in difficulty["decision"]
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="more runs (slower, steadier)")
    parser.add_argument("--out", default="docs")
    parser.add_argument(
        "--only",
        choices=["workers", "hedging", "streams", "catalogue", "difficulty", "proxies"],
        help="run one part and print it (nothing written)",
    )
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if args.only == "workers":
        result = bench_workers(config=proxy_config)
        print(
            f"   2 workers / 1 worker: {result['two_over_one']:.2f} (target >= 1.8; "
            f"plain LiteLLM on this box: {result['plain_two_over_one']:.2f}; "
            f"2 CPU-bound processes: {result['box_two_over_one']:.2f})"
        )
        return
    if args.only == "streams":
        streamed = bench_streams()
        print(
            f"   smart-router / plain LiteLLM chunks/s: {streamed['smart_over_plain_chunks_per_s']:.2f} (target >= 5); "
            f"first chunk over direct {streamed['first_chunk_over_direct_ms']:.1f} ms (target <= 10); "
            f"direct {streamed['runs']['direct']['first_chunk_median_ms']:.1f} ms; plain LiteLLM over direct: "
            f"first chunk {streamed['plain_first_chunk_over_direct_ms']:.1f} ms, "
            f"a non-streamed answer {streamed['plain_non_stream_over_direct_ms']:.1f} ms"
        )
        return
    if args.only == "difficulty":
        bench_difficulty()
        return
    if args.only == "proxies":
        found = bench_proxies(1000, 10000, 400, 5)
        for name, figure in ratios(found).items():
            print(f"   {name}: {figure:.3f}")
        return
    if args.only == "catalogue":
        for row in bench_catalogue_everywhere():
            print(f"   {json.dumps(row)}")
        return
    if args.only == "hedging":
        hedged = bench_hedging()
        print(f"   hedged p99 / fast path p99: {hedged['hedged_p99_over_fast_p99']:.2f} (target <= 1.2)")
        print(
            "   late headers, hedged p99 / fast path p99: "
            f"{hedged['late_headers_hedged_p99_over_fast_p99']:.2f} (target <= 1.2)"
        )
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = 5000 if args.full else 1000
    print("1. route decision", flush=True)
    report: dict[str, Any] = {
        "mode": "full" if args.full else "quick",
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "litellm": litellm_version(),
        "decision": bench_decision([10, 100, 1000, 10000], runs),
    }
    print("3. cost_first vs LiteLLM cost-based-routing", flush=True)
    report["cost_routing"] = bench_cost_routing([100, 1000, 10000] if args.full else [100, 1000], runs // 2)
    print("2, 4, 5. proxies", flush=True)
    report["memory_deployments"] = 10000
    report["proxies"] = bench_proxies(1000, 10000, 2000 if args.full else 400, 7 if args.full else 5)
    print("6. workers", flush=True)
    report["workers"] = bench_workers(96 if args.full else 48, config=proxy_config)
    print("7. hedged streams", flush=True)
    report["hedging"] = bench_hedging(400 if args.full else 200)
    print("8. streamed answers", flush=True)
    report["streams"] = bench_streams()
    print("9. catalogue writes to the Router, per LiteLLM version", flush=True)
    report["catalogue_writes"] = bench_catalogue_everywhere()
    print("10. prompt difficulty: classifier, auto:smart", flush=True)
    report["difficulty"] = bench_difficulty(runs * 2)
    report["ratios"] = ratios(report["proxies"])
    report["targets"] = targets(report)
    report["plots"] = plot(report, out)
    (out / "benchmarks.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "benchmarks.md").write_text(markdown(report), encoding="utf-8")
    print()
    for name, figure, limit, higher in report["targets"]:
        met = figure >= limit if higher else figure <= limit
        print(f"  {'ok  ' if met else 'MISS'} {name}: {figure:.3f} ({'>=' if higher else '<='} {limit})")
    print(f"\nwrote {out / 'benchmarks.md'}, {out / 'benchmarks.json'}, {', '.join(report['plots'])}")


if __name__ == "__main__":
    main()
