"""LiteLLM's proxy with several uvicorn workers, each on a listening socket of its own.

    python -m router_ext.litellm_seam.workers PROXY_CLI_ARGS...   (what `serve --workers N` runs)

uvicorn's workers share one listening socket, and a worker that wakes on it accepts every
connection waiting there at once (asyncio and uvloop drain the queue). Clients that keep their
connections (coding agents, the OpenAI and Anthropic SDKs, any pool) open them together, so one
worker took 18 and 20 of 20 such connections on this box and the second worker sat idle: two
workers served no more than one. Here every worker has its own socket on the same port with
SO_REUSEPORT, and the kernel spreads new connections over the listening sockets by their
addresses, whoever is awake.

The supervisor keeps no copy of a worker's socket: the child inherits it when it is spawned and
the parent closes its own at once. So a worker that stops listening (it died, or it is being
recycled or restarted and drains its open connections) leaves the kernel's group with its socket,
and new connections go to the workers that still listen; its replacement takes its share once it
listens on a fresh socket. A parent's copy would keep the socket listening with nobody to accept:
1/N of new connections would wait there, then be reset. The cost: with every worker gone at once
a connection is refused instead of queued.

Everything else is uvicorn's own supervisor (health checks, SIGHUP restarts) and LiteLLM's own
command line: this module only replaces `uvicorn.run` for more than one worker.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import socket
import sys
import time
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

_uvicorn_run = uvicorn.run
logger = logging.getLogger("uvicorn.error")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if host and ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) socket that shares its port with the other workers'."""
    sock = socket.socket(family=_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.set_inheritable(True)
    sock.bind((host, port))
    return sock


def refuse_a_taken_port(host: str, port: int) -> None:
    """Exit as uvicorn does when the port is taken. SO_REUSEPORT would join a port that another
    process (of this user) listens on with SO_REUSEPORT too, and split its connections with it:
    a plain bind is refused by any listener there."""
    with socket.socket(family=_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is no listener
        try:
            probe.bind((host, port))
        except OSError as error:
            logger.error(f"{error} (http://{host}:{port})")
            sys.exit(STARTUP_FAILURE)


class _Worker(Process):
    """uvicorn's worker handle, whose health check gives up as soon as the worker is dead. uvicorn
    waits on the ping's pipe for the whole timeout (180 s here: a worker importing LiteLLM answers
    late), and a worker killed between ping and pong never closes that pipe (the supervisor holds
    both ends): its replacement waited minutes."""

    def _healthcheck(self, timeout: float) -> bool | None:
        try:
            self.parent_conn.send(b"ping")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.parent_conn.poll(min(0.25, max(deadline - time.monotonic(), 0.0))):
                    started: bool = self.parent_conn.recv()
                    return started
                if not self.process.is_alive():
                    return None
            return None
        except (OSError, EOFError, pickle.UnpicklingError):
            return None


class BalancedWorkers(Multiprocess):
    """uvicorn's supervisor, with one listening socket per worker slot."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, sockets=[])

    def _spawn(self) -> Process:
        sock = reuse_port_socket(self.config.host, self.config.port)
        try:
            process = _Worker(self.config, [sock])
            process.start()  # spawn passes the descriptor at exec: the child holds it from here
        finally:
            sock.close()
        return process

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._spawn())

    def keep_subprocess_alive(self) -> None:
        # uvicorn's own loop, with a fresh socket for each replacement (uvicorn hands every worker
        # the one socket it keeps)
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
            self.processes[slot] = self._spawn()

    def restart_all(self) -> None:
        """SIGHUP: each worker replaced once its replacement serves. The old one stops listening
        as it starts to drain, so no new connection waits on it."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                logger.error(f"New child process [{new.pid}] was not ready in time; keeping the old one.")
                return
            old.terminate()
            old.join()
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
    refuse_a_taken_port(config.host, config.port)
    logger.info(
        f"Uvicorn running on http://{config.host}:{config.port} with {config.workers} workers, a socket each"
    )
    with contextlib.suppress(KeyboardInterrupt):
        BalancedWorkers(config).run()
