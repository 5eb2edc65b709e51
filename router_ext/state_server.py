"""The embedded shared-state server of `smart-router serve --workers N` without Redis: a
Redis-compatible server (fakeredis, pure Python) on 127.0.0.1, run in a thread of the small
supervisor process, so the workers share breakers, disabled keys, strategy, spend, learned rate
limits and job leadership through the same code path as with a real Redis, on a fresh machine
with nothing installed. Its state lives as long as the supervisor: a restart starts afresh (as a
single process does); configure REDIS_URL for state that outlives restarts.
"""

from __future__ import annotations

import socket
import threading
from typing import Any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_state_server() -> tuple[str, Any]:
    """(its redis:// URL, the server: `shutdown()` it at exit)."""
    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, name="smart-router-state", daemon=True).start()
    return f"redis://127.0.0.1:{port}/0", server
