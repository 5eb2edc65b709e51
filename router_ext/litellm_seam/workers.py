"""LiteLLM's command line with several workers, each on a listening socket of its own
(router_ext/balanced_workers.py says why).

Relies on `litellm.proxy.proxy_cli.run_server` calling `uvicorn.run(app, ..., workers=N)`, with
`uvicorn.run` looked up when it is called: 1.108.7 passes `"litellm.proxy.proxy_server:app"`,
1.110.2 `"litellm_cli.main:proxy_worker_app"` with `factory=True`; both are handed on to uvicorn's
Config as they come. When `run_server` no longer calls `uvicorn.run` (the feature `worker_sockets`
off), LiteLLM starts its workers its own way, on one shared socket; so it does off Linux, where
the kernel does not spread a port's connections over several sockets
(router_ext/platform_support.py).
"""

from __future__ import annotations

import sys

import uvicorn

from router_ext import platform_support
from router_ext.balanced_workers import run


def balanced(feature_on: bool) -> bool:
    """A listening socket per worker: the feature's internal is there, and the platform spreads
    a port's connections over several sockets."""
    return feature_on and platform_support.balanced_worker_sockets()


def main() -> None:
    from router_ext.litellm_seam.features import check_features

    feature_on = check_features().on("worker_sockets")
    if balanced(feature_on):
        uvicorn.run = run
    elif feature_on:
        print(
            f"smart-router: the workers share one listening socket on {sys.platform} "
            "(a socket per worker, balanced by the kernel, needs Linux)",
            file=sys.stderr,
        )
    from litellm.proxy.proxy_cli import run_server

    sys.argv[0] = "litellm"
    run_server()


if __name__ == "__main__":
    main()
