"""Platform guards: the code paths Windows (and macOS) take, run here with the platform faked
(router_ext/platform_support.py's flags, read when its helpers are called)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from router_ext import cli, exit_signals, platform_support, ready_announcer, supervise
from router_ext.litellm_seam import workers


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """The supervisor keeps its handlers for the rest of its (short) life: not in this process."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform_support, "IS_WINDOWS", True)
    monkeypatch.setattr(platform_support, "IS_LINUX", False)


@pytest.fixture
def macos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform_support, "IS_WINDOWS", False)
    monkeypatch.setattr(platform_support, "IS_LINUX", False)


def test_linux_keeps_every_signal_and_the_exec() -> None:
    assert platform_support.IS_LINUX  # these tests run on Linux
    assert platform_support.reload_signal() == signal.SIGHUP
    assert platform_support.forwarded_signals() == (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    assert platform_support.console_signals() == ()
    assert platform_support.supervisor_replaces_serve()
    assert platform_support.workers_refused(4) is None
    assert platform_support.balanced_worker_sockets()
    assert exit_signals.child_process_options() == {"preexec_fn": exit_signals.die_with_parent}


@pytest.mark.usefixtures("windows")
def test_windows_has_no_sighup_reload_no_exec_no_preexec_and_hands_on_sigterm_only() -> None:
    assert platform_support.reload_signal() is None
    assert "POST /routing/reload" in platform_support.RELOAD_HINT
    assert platform_support.forwarded_signals() == (signal.SIGTERM,)
    assert signal.SIGINT in platform_support.console_signals()  # noted, not handed on
    assert signal.SIGINT in platform_support.stop_signals()
    assert 0xC000013A in platform_support.clean_stop_codes()  # ended by Ctrl-C
    assert not platform_support.supervisor_replaces_serve()
    assert exit_signals.child_process_options() == {}
    assert not platform_support.balanced_worker_sockets()
    refused = platform_support.workers_refused(2)
    assert refused is not None and "Linux" in refused and "WSL2" in refused
    assert platform_support.workers_refused(1) is None


@pytest.mark.usefixtures("macos")
def test_macos_keeps_sighup_and_the_exec_but_workers_share_one_socket() -> None:
    assert platform_support.reload_signal() == signal.SIGHUP
    assert platform_support.supervisor_replaces_serve()
    assert platform_support.workers_refused(2) is None
    assert not platform_support.balanced_worker_sockets()
    assert not workers.balanced(feature_on=True)
    assert exit_signals.child_process_options() == {}  # no PR_SET_PDEATHSIG, keep the fast spawn


def test_workers_get_a_socket_each_only_on_linux_with_the_feature_on() -> None:
    assert workers.balanced(feature_on=True)
    assert not workers.balanced(feature_on=False)


def test_die_with_parent_asks_no_libc_off_linux(macos: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes

    def no_libc(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("libc.so.6 looked up off Linux")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    exit_signals.die_with_parent()


def test_pid_alive_on_posix() -> None:
    assert platform_support.pid_alive(os.getpid())
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not platform_support.pid_alive(done.pid)


class _FakeKernel32:
    def __init__(self, handle: int, exit_code: int) -> None:
        self.handle, self.exit_code, self.closed = handle, exit_code, False

    def OpenProcess(self, _access: int, _inherit: bool, _pid: int) -> int:  # Windows' names
        return self.handle

    def GetExitCodeProcess(self, _handle: int, code: Any) -> int:
        code._obj.value = self.exit_code
        return 1

    def CloseHandle(self, _handle: int) -> int:
        self.closed = True
        return 1


@pytest.mark.usefixtures("windows")
def test_pid_alive_on_windows_looks_the_process_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def never_kill(*_args: Any) -> None:
        raise AssertionError("os.kill(pid, 0) is CTRL_C_EVENT on Windows")

    monkeypatch.setattr(os, "kill", never_kill)
    running = _FakeKernel32(handle=44, exit_code=259)  # STILL_ACTIVE
    monkeypatch.setattr(platform_support, "_kernel32", lambda: running)
    assert platform_support.pid_alive(1234) and running.closed
    ended = _FakeKernel32(handle=44, exit_code=0)
    monkeypatch.setattr(platform_support, "_kernel32", lambda: ended)
    assert not platform_support.pid_alive(1234)
    missing = _FakeKernel32(handle=0, exit_code=0)
    monkeypatch.setattr(platform_support, "_kernel32", lambda: missing)
    monkeypatch.setattr(platform_support, "_last_error", lambda: 87)  # ERROR_INVALID_PARAMETER
    assert not platform_support.pid_alive(1234)
    monkeypatch.setattr(platform_support, "_last_error", lambda: 5)  # ERROR_ACCESS_DENIED: it runs
    assert platform_support.pid_alive(1234)


@pytest.fixture
def serve_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a small config; serve's changes to the environment stay in this test."""
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")})
    os.environ.pop("LITELLM_MASTER_KEY", None)
    monkeypatch.chdir(tmp_path)
    config = {
        "model_list": [
            {"model_name": "local-qwen", "litellm_params": {"model": "ollama_chat/qwen2.5:7b"}},
            {
                "model_name": "groq-llama",
                "litellm_params": {
                    "model": "groq/llama-3.1-8b-instant",
                    "api_key": "os.environ/GROQ_API_KEY",
                },
            },
        ],
        "smart_router": {"journal_dir": None},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return tmp_path


def _serve(folder: Path, *extra: str) -> int:
    return cli.main(
        [
            "serve",
            "--config",
            str(folder / "config.yaml"),
            "--env-file",
            str(folder / ".env"),
            "--port",
            "7699",
            *extra,
        ]
    )


@pytest.mark.usefixtures("windows")
def test_serve_on_windows_refuses_several_workers_before_it_writes_anything(
    serve_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _serve(serve_env, "--workers", "2") == 2
    assert "needs Linux or macOS" in capsys.readouterr().err
    assert not (serve_env / ".env").exists()


@pytest.mark.usefixtures("windows")
def test_serve_on_windows_supervises_in_its_own_process_and_leaves_the_ready_block(
    serve_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_exec(*_args: Any) -> None:
        raise AssertionError("os.execv on Windows starts a new process and ends this one")

    handed: dict[str, Any] = {}

    def fake_supervisor(argv: list[str]) -> int:
        folder = Path(argv[0])
        handed["argv"] = argv
        handed["announcement"] = ready_announcer.read_announcement(folder)
        shutil.rmtree(folder)  # as the supervisor does
        return 0

    monkeypatch.setattr(os, "execv", no_exec)
    monkeypatch.setattr(supervise, "main", fake_supervisor)
    assert _serve(serve_env) == 0
    folder, proxy = handed["argv"][0], handed["argv"][1:]
    assert Path(folder).name.startswith("smart-router-") and "--config" in proxy
    probe, text = handed["announcement"]
    assert probe == "http://127.0.0.1:7699/health/liveliness"
    key = next(
        line.split("=", 1)[1]
        for line in (serve_env / ".env").read_text().splitlines()
        if line.startswith("LITELLM_MASTER_KEY=")
    )
    assert key not in text
    assert f"admin key:  LITELLM_MASTER_KEY in {serve_env / '.env'}" in text
    assert "channels:   1 on (1 from the config, 1 of them local, 0 stored); 1 off: no key" in text
    assert f"next:       add a provider key to {serve_env / '.env'}, for example GROQ_API_KEY=..." in text


@pytest.mark.usefixtures("windows")
def test_the_supervisor_on_windows_spawns_without_preexec_and_stops_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: list[dict[str, Any]] = []
    real_popen = subprocess.Popen

    class Recording(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, argv: Any, **kwargs: Any) -> None:
            spawned.append(kwargs)
            super().__init__(argv, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    # SIGTERM reaches the supervisor (a stop asked of it): handed on, the proxy stops, exit 0
    child = [
        sys.executable,
        "-c",
        "import os, signal, time; os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)",
    ]
    assert supervise.run_until_stopped(child) == 0
    assert spawned and "preexec_fn" not in spawned[0]


@pytest.mark.usefixtures("windows")
def test_the_supervisor_on_windows_leaves_ctrl_c_to_the_console(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of a Windows console: the supervisor notes it (a stop) and
    waits for the proxy rather than hand it a second one."""
    marker = tmp_path / "finished"
    child = [
        sys.executable,
        "-c",
        "import os, signal, sys, time; os.kill(os.getppid(), signal.SIGINT); time.sleep(0.5); "
        f"open({str(marker)!r}, 'w').close()",
    ]
    assert supervise.run_until_stopped(child) == 0
    assert marker.exists()  # not interrupted: the supervisor handed it nothing
