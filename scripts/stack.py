"""Start the pieces as real processes: simulated providers, and the proxy with smart-router.

Used by the integration tests, `make demo` and the benchmarks, so all three run the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from router_ext.exit_signals import child_process_options
from router_ext.litellm_seam.version import PROXY_CLI_MODULE

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def control(self, name: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url(name)}/_control", data=data, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def stop(self) -> None:
        stop_process(self.process)


def start_simulator(spec: Mapping[str, Any]) -> Simulator:
    spec_file = Path(tempfile.mkdtemp(prefix="sim-")) / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.simulated_providers", "--spec", str(spec_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        **child_process_options(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the simulated providers did not start")
    return Simulator(process, json.loads(line))


def render_config(
    template: Path | str, ports: Mapping[str, int], extra: Mapping[str, Any] | None = None
) -> Path:
    """A config file with `{name}` placeholders replaced by simulator ports."""
    text = Path(template).read_text(encoding="utf-8")
    for name, port in ports.items():
        text = text.replace("{" + name + "}", str(port))
    document = yaml.safe_load(text)
    for key, value in (extra or {}).items():
        document[key] = value
    path = Path(tempfile.mkdtemp(prefix="smart-router-cfg-")) / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    base_url: str
    master_key: str
    log_path: Path
    config_path: Path | None = None  # the config file it serves (edit it, then reload)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until it answers; stopped and its log's tail raised when it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health/liveliness", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the proxy was not ready after {timeout:.0f} s:\n{self.log()[-4000:]}")

    def wait_for_workers(self, workers: int, timeout: float = 600.0) -> None:
        """Until `workers` workers have started: the proxy answers once its first one does, and a
        worker logs its process id before it listens."""
        deadline = time.monotonic() + timeout
        while self.log().count("Application startup complete.") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{workers} workers did not start in {timeout:.0f} s:\n{self.log()[-3000:]}"
                )
            time.sleep(0.2)

    @property
    def workdir(self) -> Path:
        """Its working folder: SQLite file, journals, `.env`, log."""
        return self.log_path.parent

    def stop(self) -> None:
        stop_process(self.process)

    def wait_store(self, timeout: float = 30.0) -> None:
        """Until the record store runs. It starts after the first answer or 5 s idle (or at once
        when asked for, as this does): a test about an outage needs it running first."""
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(
            f"{self.base_url}/routing/records?limit=1", headers={"Authorization": f"Bearer {self.master_key}"}
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the record store did not start within {timeout:.0f} s") from None
                time.sleep(0.1)


def start_proxy(
    config: Path,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    plain_litellm: bool = False,
    workdir: Path | None = None,
    args: Sequence[str] = (),
) -> Proxy:
    """A proxy, once it answers. `workdir`: the proxy's working folder (its SQLite file,
    journals and log): pass the one of an earlier proxy to restart it."""
    proxy = launch_proxy(config, port, env, plain_litellm, workdir, args)
    proxy.wait_ready(timeout)
    return proxy


def start_replicas(
    config: Path, count: int, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> list[Proxy]:
    """`count` proxies on one config and one master key, started side by side: a start is
    mostly importing LiteLLM on one core, so two take the time of one on this two-core box."""
    master_key = (env or {}).get("LITELLM_MASTER_KEY") or "sk-" + secrets.token_urlsafe(24)
    ports: set[int] = set()
    while len(ports) < count:  # none binds before all are chosen: never the same port twice
        ports.add(free_port())
    launched: list[Proxy] = []
    try:
        for port in ports:
            launched.append(launch_proxy(config, port, {**(env or {}), "LITELLM_MASTER_KEY": master_key}))
        for proxy in launched:
            proxy.wait_ready(timeout)
    except BaseException:
        for proxy in launched:
            proxy.stop()
        raise
    return launched


def launch_proxy(
    config: Path,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    plain_litellm: bool = False,
    workdir: Path | None = None,
    args: Sequence[str] = (),
) -> Proxy:
    """A proxy process, started; `Proxy.wait_ready` waits until it answers."""
    port = port or free_port()
    master_key = (env or {}).get("LITELLM_MASTER_KEY") or "sk-" + secrets.token_urlsafe(24)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="smart-router-run-"))
    environment = {
        **os.environ,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "PYTHONFAULTHANDLER": "1",  # a crash of the proxy leaves its Python stacks in proxy.log
        **(env or {}),
    }
    if plain_litellm:
        command = [
            sys.executable,
            "-m",
            PROXY_CLI_MODULE,
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "router_ext.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--env-file",
            str(workdir / ".env"),
            *args,
        ]
    log_path = workdir / "proxy.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            **child_process_options(),
        )
    return Proxy(process, f"http://127.0.0.1:{port}", master_key, log_path, config)


def openai_client(proxy: Proxy, timeout: float = 30.0, api_key: str | None = None) -> Any:
    """The official client against the proxy, with no retries (a test must see every error).

    Pooled connections expire after 2 s, before uvicorn's 5 s keep-alive timeout closes them
    from the other side: reusing one in that instant is a reset no client retry would forgive.
    """
    import httpx2  # the HTTP library of this openai release
    import openai

    http_client = openai.DefaultHttpxClient(limits=httpx2.Limits(keepalive_expiry=2.0), timeout=timeout)
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1",
        api_key=api_key or proxy.master_key,
        max_retries=0,
        http_client=http_client,
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run `make services` (apt-get install redis-server)"
            )
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def start_redis(port: int | None = None) -> RedisServer:
    return RedisServer(port or free_port()).start()


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's binaries; run as an unprivileged user under root)."""

    port: int
    data_dir: Path
    user: str | None  # the OS user the server runs as, when we are root

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://router@127.0.0.1:{self.port}/router"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> PostgresServer:
        result = self._run(
            _pg_binary("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stdout}{result.stderr}")
        return self

    def stop(self) -> None:
        self._run(_pg_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def sql(self, statements: str) -> str:
        """What `psql` prints for the statements: the raw rows, as someone reading the database would."""
        result = self._run(
            _pg_binary("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "router",
            "-d",
            "router",
            "-c",
            statements,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(
        f"{name} not found: install PostgreSQL (`make services` does: apt-get install postgresql)"
    )


def start_postgres(port: int | None = None) -> PostgresServer:
    user = None
    data_dir = Path(tempfile.mkdtemp(prefix="smart-router-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = (
            "postgres"
            if subprocess.run(["id", "postgres"], capture_output=True).returncode == 0
            else "nobody"
        )
        shutil.chown(data_dir, user)
    server = PostgresServer(port or free_port(), data_dir / "data", user)
    if user:
        server.data_dir.mkdir()
        shutil.chown(server.data_dir, user)
    result = server._run(
        _pg_binary("initdb"), "-D", str(server.data_dir), "-U", "router", "--auth=trust", "-E", "UTF8"
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")
    server.start()
    created = server._run(
        _pg_binary("psql") if shutil.which("psql") else "psql",
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "router",
        "-d",
        "postgres",
        "-c",
        "CREATE DATABASE router",
    )
    if created.returncode != 0:
        raise RuntimeError(f"could not create the database: {created.stderr}")
    return server
