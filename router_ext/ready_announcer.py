"""Prints `serve`'s ready block (router_ext/first_run.py) once the proxy answers, from the
supervisor (router_ext/supervise.py). The supervisor lives as long as the proxy and its memory
counts against ours, so this module stays small: the probe is a plain socket, not urllib (which
pulls in http.client, email and ssl: 8 MB of resident memory in a process of 14)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

ANNOUNCEMENT = "ready.json"  # in serve's private folder


def write_announcement(folder: Path, probe_url: str, text: str) -> None:
    (folder / ANNOUNCEMENT).write_text(json.dumps({"probe": probe_url, "text": text}), encoding="utf-8")


def read_announcement(folder: Path) -> tuple[str, str] | None:
    try:
        found = json.loads((folder / ANNOUNCEMENT).read_text(encoding="utf-8"))
        return str(found["probe"]), str(found["text"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def answers(url: str, timeout: float = 1.0) -> bool:
    """Does something answer HTTP at `url` (any status)? Straight to the address: never through
    $http_proxy."""
    try:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as connection:
            connection.sendall(
                f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii")
            )
            return connection.recv(5) == b"HTTP/"
    except (OSError, ValueError, UnicodeError):
        return False


def announce_when_ready(
    probe_url: str,
    text: str,
    running: Callable[[], bool],
    out: TextIO,
    stop: threading.Event,
    interval: float = 0.25,
    deadline_s: float = 900.0,
) -> bool:
    """Print `text` once `probe_url` answers; give up when the proxy ends, `stop` is set or
    after `deadline_s` (a start that slow has said enough in its log). True when printed."""
    waited = 0.0
    while running() and not stop.is_set() and waited < deadline_s:
        if answers(probe_url):
            if stop.is_set() or not running():
                return False
            out.write(text)
            out.flush()
            return True
        stop.wait(interval)
        waited += interval
    return False


def start_announcer(folder: Path, running: Callable[[], bool], out: TextIO) -> threading.Event | None:
    """The announcement of `folder`, printed from a daemon thread; set the returned event to
    stop waiting. None when `serve` left no announcement."""
    found = read_announcement(folder)
    if found is None:
        return None
    probe, text = found
    stop = threading.Event()
    threading.Thread(
        target=announce_when_ready,
        args=(probe, text, running, out, stop),
        name="smart-router-ready",
        daemon=True,
    ).start()
    return stop
