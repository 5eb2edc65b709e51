"""What `smart-router serve` becomes once the config is rendered: a small process (no LiteLLM,
no parsed config) that runs the proxy as its child, hands it SIGTERM / SIGINT / SIGHUP, exits 0
on a stop it completes, and removes `serve`'s private temporary folder.

    python -m router_ext.supervise FOLDER PROXY_ARGV...
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from typing import Any

from router_ext.exit_signals import die_with_parent


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
    folder, proxy = argv[0], argv[1:]
    try:
        return run_until_stopped(proxy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
