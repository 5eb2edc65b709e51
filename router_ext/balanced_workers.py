"""LiteLLM's proxy with several uvicorn workers, each on a listening socket of its own.

    python -m router_ext.balanced_workers PROXY_CLI_ARGS...   (what `serve --workers N` runs)

uvicorn's workers share one listening socket, and a worker that wakes on it accepts every
connection waiting there at once (asyncio and uvloop drain the queue). Clients that keep their
connections (coding agents, the OpenAI and Anthropic SDKs, any pool) open them together, so one
worker took 18 and 20 of 20 such connections on this box and the second worker sat idle: two
workers served no more than one. Here every worker has its own socket on the same port with
SO_REUSEPORT, and the kernel spreads new connections over the listening sockets by their
addresses, whoever is awake.

A worker that dies takes its socket with it: the supervisor closes the slot's socket (connections
still queued on it are reset: they were never read) and gives the replacement a fresh one, which
receives connections only once the replacement listens. Until then new connections go to the
workers that are alive.

Everything else is uvicorn's own supervisor (health checks, SIGHUP restarts) and LiteLLM's own
command line: this module only replaces `uvicorn.run` for more than one worker.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

_uvicorn_run = uvicorn.run
logger = logging.getLogger("uvicorn.error")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) socket that shares its port with the other workers'."""
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.set_inheritable(True)
    sock.bind((host, port))
    return sock


class BalancedWorkers(Multiprocess):
    """uvicorn's supervisor, with one listening socket per worker slot."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, sockets=[])
        self.slots: list[socket.socket] = []

    def _spawn(self, slot: int) -> Process:
        sock = reuse_port_socket(self.config.host, self.config.port)
        if slot < len(self.slots):
            self.slots[slot].close()
            self.slots[slot] = sock
        else:
            self.slots.append(sock)
        process = Process(self.config, [sock])
        process.start()
        return process

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._spawn(slot))

    def keep_subprocess_alive(self) -> None:
        # uvicorn's loop, with the slot's socket renewed: a dead worker's socket would keep taking
        # its share of new connections while nobody accepts them.
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[slot] = self._spawn(slot)

    def restart_all(self) -> None:
        """SIGHUP: each worker replaced once its replacement serves (on a socket of its own, so
        both take connections for that moment)."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            sock = reuse_port_socket(self.config.host, self.config.port)
            new = Process(self.config, [sock])
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                sock.close()
                logger.error(f"New child process [{new.pid}] was not ready in time; keeping the old one.")
                return
            old.terminate()
            old.join()
            self.slots[slot].close()
            self.slots[slot] = sock
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN: the worker count is set by --workers; ignored.")

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU: the worker count is set by --workers; ignored.")


def run(app: Any, **kwargs: Any) -> None:
    """`uvicorn.run`, as LiteLLM's command line calls it; several workers get a socket each."""
    if int(kwargs.get("workers") or 1) <= 1 or kwargs.get("uds") or kwargs.get("fd") is not None:
        _uvicorn_run(app, **kwargs)
        return
    config = Config(app, **kwargs)
    logger.info(
        f"Uvicorn running on http://{config.host}:{config.port} with {config.workers} workers, a socket each"
    )
    with contextlib.suppress(KeyboardInterrupt):
        BalancedWorkers(config).run()


def main() -> None:
    uvicorn.run = run
    from litellm.proxy.proxy_cli import run_server

    sys.argv[0] = "litellm"
    run_server()


if __name__ == "__main__":
    main()
