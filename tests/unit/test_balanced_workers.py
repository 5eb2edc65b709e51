"""The sockets of `serve --workers`: one per worker on the same port, and a single worker left
to uvicorn as LiteLLM starts it."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from router_ext import balanced_workers


def test_every_worker_gets_a_listening_socket_of_its_own_on_the_one_port() -> None:
    first = balanced_workers.reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = balanced_workers.reuse_port_socket("127.0.0.1", port)
    try:
        first.listen()
        second.listen()
        assert second.getsockname()[1] == port
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the kernel hands it to one of the two
    finally:
        first.close()
        second.close()


def test_a_port_taken_without_reuse_port_is_a_clear_bind_error() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError):
            balanced_workers.reuse_port_socket("127.0.0.1", other.getsockname()[1])


@pytest.mark.parametrize("options", [{"workers": 1}, {"workers": None}, {"workers": 2, "uds": "/tmp/s"}])
def test_one_worker_or_another_socket_kind_is_uvicorns_own_run(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(balanced_workers, "_uvicorn_run", lambda app, **kw: calls.append((app, kw)))
    balanced_workers.run("litellm.proxy.proxy_server:app", host="127.0.0.1", port=1, **options)
    assert calls == [("litellm.proxy.proxy_server:app", {"host": "127.0.0.1", "port": 1, **options})]


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain listener", "SO_REUSEPORT listener"])
def test_a_port_someone_listens_on_stops_the_start_with_uvicorns_exit_code(reuse_port: bool) -> None:
    # SO_REUSEPORT alone would join a listener that set it too and split its connections with it
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(SystemExit) as stopped:
            balanced_workers.refuse_a_taken_port("127.0.0.1", other.getsockname()[1])
    assert stopped.value.code == 3


def test_a_free_port_passes_the_check_and_stays_free() -> None:
    probe = balanced_workers.reuse_port_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    balanced_workers.refuse_a_taken_port("127.0.0.1", port)
    balanced_workers.reuse_port_socket("127.0.0.1", port).close()  # nothing left bound
