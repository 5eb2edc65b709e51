"""The block `serve` prints once the proxy answers: URL, dashboard, where the admin key is (never
the key), channels on, and with none the one next step; the supervisor prints it once."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from router_ext import first_run, ready_announcer, supervise
from router_ext.launch_config import prepare_launch_config
from scripts.stack import ROOT, free_port

KEY = "sk-the-admin-key-that-must-not-be-printed-4f1c"


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """The supervisor keeps its handlers for the rest of its (short) life: not in this process."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


def default_config_channels(environ: dict[str, str], stored: int = 0) -> first_run.Channels:
    document = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    launch = prepare_launch_config(document, environ)
    return first_run.count_channels(launch.document["model_list"], launch.skipped, stored)


def test_the_default_config_with_no_key_says_where_everything_is_and_what_to_do_next() -> None:
    channels = default_config_channels({})
    assert (channels.configured, channels.local, channels.stored) == (2, 2, 0)  # Ollama, LM Studio
    assert not channels.reach_a_provider
    text = first_run.ready_block(
        "http://127.0.0.1:7602", "LITELLM_MASTER_KEY in .env", channels, Path(".env")
    )
    assert "smart-router is ready" in text
    assert "URL:        http://127.0.0.1:7602  (OpenAI clients: http://127.0.0.1:7602/v1)" in text
    assert "dashboard:  http://127.0.0.1:7602/routing/ui" in text
    assert "admin key:  LITELLM_MASTER_KEY in .env" in text
    assert f"channels:   2 on (2 from the config, 2 of them local, 0 stored); {len(channels.off)} off" in text
    assert (
        "next:       add a provider key to .env, for example OPENROUTER_API_KEY=sk-or-..., then restart"
        in text
    )
    assert text.isascii()  # a Windows console prints it too
    assert len(text.strip().splitlines()) <= 7


def test_with_a_provider_on_or_a_stored_channel_there_is_no_next_step() -> None:
    with_key = default_config_channels({"GROQ_API_KEY": "gsk-x"})
    assert with_key.reach_a_provider
    assert "next:" not in first_run.ready_block("http://h:1", "k", with_key)
    stored = default_config_channels({}, stored=3)
    assert stored.on == 5
    assert "next:" not in first_run.ready_block("http://h:1", "k", stored)


def test_with_no_channel_and_no_key_to_wait_for_the_next_step_is_adding_a_channel() -> None:
    channels = first_run.count_channels([], {}, 0)
    assert first_run.next_step(channels) == first_run.ADD_A_CHANNEL
    only_groq = first_run.count_channels([], {"llama": "GROQ_API_KEY"}, 0)
    assert first_run.next_step(only_groq, "/srv/.env") == (
        "add a provider key to /srv/.env, for example GROQ_API_KEY=..., then restart"
    )


def test_local_channels_are_told_apart() -> None:
    channels = first_run.count_channels(
        [
            {"model_name": "a", "litellm_params": {"model": "ollama_chat/qwen"}},
            {
                "model_name": "b",
                "litellm_params": {"model": "openai/x", "api_base": "http://10.0.0.5:8000/v1"},
            },
            {
                "model_name": "c",
                "litellm_params": {"model": "openai/x", "api_base": "https://api.example.com"},
            },
            {"model_name": "d", "litellm_params": {"model": "openai/x"}, "model_info": {"local": True}},
            {"model_name": "e", "litellm_params": {"model": "gpt-4o-mini"}},
        ],
        {},
        0,
    )
    assert (channels.configured, channels.local) == (5, 3)


def test_the_admin_key_is_located_never_shown() -> None:
    config, env_file = Path("config/config.yaml"), Path(".env")
    assert first_run.admin_key_location({}, config, env_file, False) == "LITELLM_MASTER_KEY in .env"
    assert first_run.admin_key_location({}, config, env_file, True) == "LITELLM_MASTER_KEY in the environment"
    literal = {"general_settings": {"master_key": KEY}}
    where = first_run.admin_key_location(literal, config, env_file, True)
    assert where == "general_settings.master_key in config/config.yaml" and KEY not in where
    named = {"general_settings": {"master_key": "os.environ/MY_ADMIN_KEY"}}
    assert first_run.admin_key_location(named, config, env_file, False) == (
        "MY_ADMIN_KEY (general_settings.master_key in config/config.yaml)"
    )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:7602"),
        ("0.0.0.0", "http://127.0.0.1:7602"),
        ("::", "http://[::1]:7602"),
        ("::1", "http://[::1]:7602"),
        ("router.lan", "http://router.lan:7602"),
    ],
)
def test_the_url_given_is_one_a_client_can_reach(host: str, url: str) -> None:
    assert first_run.base_url(host, 7602) == url


def test_the_dashboard_path_is_the_dashboards() -> None:
    from router_ext.admin.ui import build_ui_router

    assert first_run.DASHBOARD_PATH in {route.path for route in build_ui_router().routes}  # type: ignore[attr-defined]


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health/liveliness"
    server.shutdown()
    server.server_close()


def test_the_block_is_printed_once_the_proxy_answers(http_server: str) -> None:
    out, stop = io.StringIO(), threading.Event()
    assert ready_announcer.announce_when_ready(
        http_server, "ready!\n", lambda: True, out, stop, interval=0.01
    )
    assert out.getvalue() == "ready!\n"


def test_nothing_is_printed_for_a_proxy_that_ended_or_never_answers() -> None:
    out, stop = io.StringIO(), threading.Event()
    nobody = f"http://127.0.0.1:{free_port()}/health/liveliness"
    assert not ready_announcer.announce_when_ready(nobody, "ready!\n", lambda: False, out, stop)
    assert not ready_announcer.announce_when_ready(
        nobody, "ready!\n", lambda: True, out, stop, 0.01, deadline_s=0.05
    )
    stop.set()
    assert not ready_announcer.announce_when_ready(nobody, "ready!\n", lambda: True, out, stop)
    assert out.getvalue() == ""


class _StopOnBlock(io.StringIO):
    """stderr for the supervisor: once the block is written, a SIGTERM to this process (as make
    or a terminal would send the supervisor)."""

    def write(self, text: str) -> int:
        written = super().write(text)
        if "smart-router is ready" in self.getvalue() and not getattr(self, "sent", False):
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        return written


def test_the_supervisor_prints_the_block_once_the_proxy_answers_and_a_sigterm_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    text = first_run.ready_block(url, "LITELLM_MASTER_KEY in .env", first_run.count_channels([], {}, 0))
    ready_announcer.write_announcement(tmp_path, url + first_run.LIVENESS_PATH, text)
    stderr = _StopOnBlock()
    monkeypatch.setattr(sys, "stderr", stderr)
    # a stand-in proxy: answers HTTP (501 to GET: still an answer) until SIGTERM ends it
    child = [
        sys.executable,
        "-c",
        "import http.server as h; "
        f"h.HTTPServer(('127.0.0.1', {port}), h.BaseHTTPRequestHandler).serve_forever()",
    ]
    started = time.monotonic()
    assert supervise.run_until_stopped(child, announce_from=str(tmp_path)) == 0  # a stop it completed
    assert time.monotonic() - started < 60
    assert stderr.getvalue().count("smart-router is ready") == 1


def test_the_supervisor_returns_the_proxys_own_failure() -> None:
    assert supervise.run_until_stopped([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert (
        supervise.run_until_stopped([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"])
        == 128 + 9
    )
