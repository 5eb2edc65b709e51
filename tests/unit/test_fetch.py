"""Fetching with retries against a real HTTP server on 127.0.0.1."""

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from scrapers.fetch import FetchError, fetch_json


class Flaky(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # the http.server API
        Flaky.seen.append(self.path)
        status = Flaky.answers.pop(0) if Flaky.answers else 200
        body = b'{"data": []}' if status == 200 else b'{"error": "busy"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Flaky.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_server_errors_are_retried_with_backoff(server: str) -> None:
    Flaky.answers = [503, 429]
    assert asyncio.run(fetch_json(f"{server}/models", attempts=3, backoff_s=0.01)) == {"data": []}
    assert len(Flaky.seen) == 3


def test_a_wrong_key_is_not_retried_and_the_query_string_is_not_shown(server: str) -> None:
    Flaky.answers = [401]
    with pytest.raises(FetchError, match="HTTP 401") as raised:
        asyncio.run(fetch_json(f"{server}/models?key=secret-value", attempts=3, backoff_s=0.01))
    assert len(Flaky.seen) == 1 and "secret-value" not in str(raised.value)


def test_an_unreachable_host_fails_after_every_attempt() -> None:
    with pytest.raises(FetchError, match="ConnectError"):
        asyncio.run(fetch_json("http://127.0.0.1:9/models", attempts=2, backoff_s=0.01))


class Redirect(BaseHTTPRequestHandler):
    target: ClassVar[str] = ""
    keys: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:  # the http.server API
        Redirect.keys.append(self.headers.get("x-api-key"))
        if self.path == "/models":
            self.send_response(302)
            self.send_header("location", Redirect.target)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = b'{"data": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def test_a_redirect_to_another_origin_never_carries_the_key() -> None:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Redirect) for _ in range(2)]
    for httpd in servers:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    first, other = (f"http://127.0.0.1:{h.server_address[1]}" for h in servers)
    try:
        for target, expected in ((f"{first}/v1/models", "sk-ant-secret"), (f"{other}/v1/models", None)):
            Redirect.keys.clear()
            Redirect.target = target
            headers = {"x-api-key": "sk-ant-secret", "anthropic-version": "2023-06-01"}
            assert asyncio.run(fetch_json(f"{first}/models", headers=headers)) == {"data": []}
            assert Redirect.keys == ["sk-ant-secret", expected]  # same origin keeps it, another never sees it
    finally:
        for httpd in servers:
            httpd.shutdown()
