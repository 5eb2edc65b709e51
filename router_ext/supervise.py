"""What `smart-router serve` becomes once the config is rendered: a small process (no LiteLLM,
no parsed config) that runs the proxy as its child, hands it SIGTERM / SIGINT / SIGHUP, exits 0
on a stop it completes, and removes `serve`'s private temporary folder.

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
from typing import Any

from router_ext.exit_signals import die_with_parent
from router_ext.state.shared_state import STATE_URL_VARIABLE


def run_until_stopped(argv: list[str]) -> int:
    """The proxy as a child that dies with us; a stop it completes is a clean exit (0)."""
    child = subprocess.Popen(argv, preexec_fn=die_with_parent)
    forwarded: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    stopping = {signal.SIGTERM, signal.SIGINT}
    if set(forwarded) & stopping and code in (0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM):
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
        return run_until_stopped(proxy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if server is not None:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
