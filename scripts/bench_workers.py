"""Workers in `make bench`: non-streamed requests/s at 20 concurrent with 1 and 2 workers, smart-router
(`serve --workers`) beside plain LiteLLM (`--num_workers`), in one run.

On a 2-core box the load generator and the upstream share the cores with the proxy, so they must
cost next to nothing: `wrk` (C, keep-alive connections, a Lua script rotating the model name)
against `nginx` answering a fixed OpenAI chat completion (`apt-get install wrk nginx-light`).
Without them it falls back to the Python client and the simulator, which cost ~2 ms of CPU a
request, and says so. What two processes can do on this box at all is measured in the same
turns: a CPU-bound loop in one and in two processes (`box_two_over_one`), since a virtual
machine's two cores are not always two cores' worth.

All four set-ups run at once and are loaded in turns, a block each, so that slow spells of this
shared box hit each alike (one after the other, the ratio swung from 1.3x to 2.0x).
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from router_ext.cli import WORKER_HEALTHCHECK_S
from scripts.stack import Proxy, free_port, openai_client, start_proxy, start_simulator, stop_process

HELLO = [{"role": "user", "content": "hello"}]
ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "m-bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
RUNS = (
    ("smart-router, 1 worker", True, 1),
    ("smart-router, 2 workers", True, 2),
    ("plain LiteLLM, 1 worker", False, 1),
    ("plain LiteLLM, 2 workers", False, 2),
)
SPIN = "import sys,time\nend=time.perf_counter()+float(sys.argv[1]);n=0\nwhile time.perf_counter()<end:\n for i in range(1000): n+=i*i%7\nprint(n)"


@contextmanager
def upstream() -> Iterator[tuple[str, int, str]]:
    """(api_base, pid, kind): nginx with a fixed answer when installed, else the simulator."""
    nginx = shutil.which("nginx") or next(iter(Path("/usr/sbin").glob("nginx")), None)
    if nginx is None:
        simulator = start_simulator(
            {"providers": [{"name": "up", "models": ["m-bench"], "api_key": "sk-bench"}]}
        )
        try:
            yield f"{simulator.url('up')}/v1", simulator.process.pid, "the simulator (Python)"
        finally:
            simulator.stop()
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    body = json.dumps(ANSWER).replace("'", "\\'")
    (folder / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http { access_log off; keepalive_timeout 75s; keepalive_requests 10000000;\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ default_type application/json; return 200 '{body}'; }} }} }}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([str(nginx), "-c", str(folder / "nginx.conf"), "-p", str(folder)])
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1", process.pid, "nginx (a fixed answer)"
    finally:
        stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wrk_script(folder: Path, master_key: str) -> Path:
    """A POST per request, the model name rotating over the config's 100 names."""
    path = folder / f"post-{free_port()}.lua"
    body = '{"model":"m-%05d","messages":[{"role":"user","content":"hello"}],"max_tokens":4}'
    path.write_text(
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        f"  local body = string.format('{body}', i % 100)\n"
        '  return wrk.format("POST", "/v1/chat/completions", '
        f'{{["Content-Type"]="application/json", ["Authorization"]="Bearer {master_key}"}}, body)\n'
        "end\n",
        encoding="utf-8",
    )
    return path


def wrk_block(
    proxy: Proxy, script: Path, seconds: float, concurrency: int, strict: bool = True
) -> tuple[int, float]:
    """(requests answered 2xx, seconds): wrk's own count; any other answer fails a strict run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "-s", str(script), proxy.base_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"wrk printed no total:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if strict and (failed or errors):
        raise RuntimeError(f"wrk saw failures against {proxy.base_url}:\n{out}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    return int(total.group(1)), elapsed


def python_block(proxy: Proxy, seconds: float, concurrency: int) -> tuple[int, float]:
    client = openai_client(proxy, timeout=120)
    began = time.perf_counter()
    end = began + seconds

    def worker(offset: int) -> int:
        done = 0
        while time.perf_counter() < end:
            client.chat.completions.create(
                model=f"m-{(offset + done) % 100:05d}", messages=HELLO, max_tokens=4
            )
            done += 1
        return done

    with ThreadPoolExecutor(concurrency) as pool:
        count = sum(pool.map(worker, range(concurrency)))
    return count, time.perf_counter() - began


def box_spin(processes: int, seconds: float) -> float:
    """Loop iterations per second of `processes` CPU-bound Python processes at once."""
    running = [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)], stdout=subprocess.PIPE)
        for _ in range(processes)
    ]
    return sum(int(p.communicate()[0]) for p in running) / seconds


def cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and its children (workers, embedded state server)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def load_generator_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk and the spin loops, once reaped
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def bench_workers(
    seconds: float = 48.0, concurrency: int = 20, blocks: int = 4, config: Any = None
) -> dict[str, Any]:
    """`config(size, api_base, smart) -> Path`: bench.py's proxy config (100 model names here)."""
    use_wrk = shutil.which("wrk") is not None
    block_s = max(2.0, seconds / blocks)
    proxies: dict[str, Proxy] = {}
    found: dict[str, Any] = {}
    with upstream() as (api_base, upstream_pid, upstream_kind):
        try:
            for name, smart, workers in RUNS:
                # plain LiteLLM gets the worker health check `serve` sets (cli.WORKER_HEALTHCHECK_S):
                # with uvicorn's 5 s its second worker, importing on a busy box, was killed and
                # respawned forever, and "2 workers" ran on one
                extra = (
                    ["--workers", str(workers)]
                    if smart
                    else [
                        "--num_workers",
                        str(workers),
                        "--timeout_worker_healthcheck",
                        str(WORKER_HEALTHCHECK_S),
                    ]
                )
                proxies[name] = start_proxy(
                    config(100, api_base, smart),
                    plain_litellm=not smart,
                    timeout=600,
                    env={"LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "true"},
                    args=extra,
                )
            folder = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
            scripts = {name: wrk_script(folder, proxy.master_key) for name, proxy in proxies.items()}

            def block(name: str, length: float, strict: bool = True) -> tuple[int, float]:
                if use_wrk:
                    return wrk_block(proxies[name], scripts[name], length, concurrency, strict)
                return python_block(proxies[name], length, concurrency)

            for (_, _, workers), proxy in zip(RUNS, proxies.values(), strict=True):
                proxy.wait_for_workers(workers)
            for name in proxies:
                # every worker warm (imports, route tables, connection pools): a worker's first
                # requests may outlast wrk's 2 s timeout, which is not what is measured
                block(name, 3, strict=False)
            answered = dict.fromkeys(proxies, 0)
            elapsed = dict.fromkeys(proxies, 0.0)
            cpu = {name: dict.fromkeys(("proxy", "upstream", "client"), 0.0) for name in proxies}
            spins: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(blocks):
                for processes in spins:
                    spins[processes].append(box_spin(processes, min(block_s, 3.0)))
                for name, proxy in proxies.items():
                    before = (cpu_seconds(proxy.process.pid), cpu_seconds(upstream_pid), load_generator_cpu())
                    count, took = block(name, block_s)
                    after = (cpu_seconds(proxy.process.pid), cpu_seconds(upstream_pid), load_generator_cpu())
                    answered[name] += count
                    elapsed[name] += took
                    for part, b, a in zip(("proxy", "upstream", "client"), before, after, strict=True):
                        cpu[name][part] += a - b
            for name in proxies:
                found[name] = {
                    "rps": answered[name] / elapsed[name],
                    "requests": answered[name],
                    **{
                        f"cpu_ms_per_request_{part}": s * 1000 / answered[name]
                        for part, s in cpu[name].items()
                    },
                }
                print(
                    f"   {name}: {found[name]['rps']:.1f} requests/s; CPU ms per request: proxy "
                    f"{found[name]['cpu_ms_per_request_proxy']:.2f}, upstream {found[name]['cpu_ms_per_request_upstream']:.2f}, "
                    f"load generator {found[name]['cpu_ms_per_request_client']:.2f}",
                    flush=True,
                )
        finally:
            for proxy in proxies.values():
                proxy.stop()
    box = sum(spins[2]) / sum(spins[1])
    one, two = found["smart-router, 1 worker"]["rps"], found["smart-router, 2 workers"]["rps"]
    plain = found["plain LiteLLM, 2 workers"]["rps"] / found["plain LiteLLM, 1 worker"]["rps"]
    print(
        f"   load: {'wrk' if use_wrk else 'the Python client (install wrk for a fair figure)'}; upstream: {upstream_kind}; "
        f"this box: 2 CPU-bound processes = {box:.2f}x one",
        flush=True,
    )
    return {
        "concurrency": concurrency,
        "load_generator": "wrk" if use_wrk else "python",
        "upstream": upstream_kind,
        "runs": found,
        "two_over_one": two / one,
        "plain_two_over_one": plain,
        "box_two_over_one": box,
    }
