"""What `smart-router serve` becomes once the config is rendered: a small process (no LiteLLM,
no parsed config) that runs the proxy as its child, hands it SIGTERM / SIGINT / SIGHUP, exits 0
on a stop it completes, and removes `serve`'s private temporary folder. It prints `serve`'s
ready block (router_ext/first_run.py, router_ext/ready_announcer.py) once the proxy answers. On Windows `serve` runs this in
its own process (no exec there) and only SIGTERM is handed on: the console's Ctrl-C reaches the
proxy by itself (router_ext/platform_support.py).

    python -m router_ext.supervise [--state-server] FOLDER PROXY_ARGV...

`--state-server`: several workers and no Redis configured: run the embedded shared-state server
(router_ext/state_server.py) here and give its URL to the workers as REDIS_URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from router_ext import platform_support
from router_ext.exit_signals import child_process_options
from router_ext.ready_announcer import start_announcer
from router_ext.state.shared_state import STATE_URL_VARIABLE


def run_until_stopped(argv: list[str], announce_from: str | None = None) -> int:
    """The proxy as a child that dies with us; a stop it completes is a clean exit (0).
    `announce_from`: serve's folder, whose ready block is printed once the proxy answers."""
    children: list[subprocess.Popen[bytes]] = []
    received: list[int] = []
    pending: list[int] = []  # came before the child existed

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        if not children:
            pending.append(signum)
        for child in children:
            with contextlib.suppress(OSError):  # it has just ended
                child.send_signal(signum)

    def note(signum: int, _frame: Any) -> None:  # the proxy has it already (Windows' console)
        received.append(signum)

    # Set before the child exists (a stop that comes while it is spawned is handed on once it
    # is), and kept after it ended: a late signal must not cut short the clean-up that follows.
    for handler, signums in (
        (forward, platform_support.forwarded_signals()),
        (note, platform_support.console_signals()),
    ):
        for wanted in signums:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(wanted, handler)
    announcing = None
    try:
        child = subprocess.Popen(argv, **child_process_options())
        children.append(child)
        if pending:
            with contextlib.suppress(OSError):
                child.send_signal(pending[-1])
        if announce_from:
            announcing = start_announcer(Path(announce_from), lambda: child.poll() is None, sys.stderr)
        code = child.wait()
    finally:
        if announcing is not None:
            announcing.set()
    if set(received) & platform_support.stop_signals() and code in platform_support.clean_stop_codes():
        return 0
    return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    server = None
    if argv and argv[0] == "--state-server":
        from router_ext.state_server import start_state_server

        url, server = start_state_server()
        # Our own variable, not REDIS_URL: LiteLLM reads REDIS_URL too and would move its own
        # limiter and cooldown reads to Redis (measured: +2.6 ms CPU a request with 2 workers),
        # which plain LiteLLM with --num_workers does not do.
        os.environ[STATE_URL_VARIABLE] = url
        print(
            f"smart-router: the workers share state through an embedded server on {url} (set REDIS_URL to use yours)",
            file=sys.stderr,
        )
        argv = argv[1:]
    folder, proxy = argv[0], argv[1:]
    try:
        return run_until_stopped(proxy, announce_from=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if server is not None:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
