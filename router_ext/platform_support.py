"""What differs between Linux, macOS and Windows, in one place.

`smart-router serve` is built for Linux (the Docker image, servers); macOS runs it the same way
save the per-worker sockets; Windows runs one proxy process natively (`uv run smart-router
serve`), and everything else under WSL2 or Docker Desktop (docs/operations.md#windows). Code that
needs a POSIX signal, `prctl`, `SO_REUSEPORT` balancing or `os.execv` asks here; the flags are
read when a helper is called, so the unit tests fake another platform by setting them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any

IS_WINDOWS = sys.platform == "win32"
IS_LINUX = sys.platform.startswith("linux")

RELOAD_HINT = "reload the config's channels with POST /routing/reload"
WORKERS_NEED_POSIX = (
    "smart-router: --workers N (more than one) needs Linux or macOS; on Windows serve one process "
    "(--workers 1, the default), or run under WSL2 or Docker Desktop (docs/operations.md#windows)"
)
# Windows' exit status of a process ended by Ctrl-C (STATUS_CONTROL_C_EXIT)
_WINDOWS_CTRL_C_EXIT = 0xC000013A
_WINDOWS_STILL_ACTIVE = 259


def reload_signal() -> signal.Signals | None:
    """The signal that reloads the config's channels: SIGHUP; None on Windows, which has no
    SIGHUP (there: RELOAD_HINT)."""
    if IS_WINDOWS:
        return None
    found = getattr(signal, "SIGHUP", None)
    return found if isinstance(found, signal.Signals) else None


def forwarded_signals() -> tuple[signal.Signals, ...]:
    """What the supervisor hands the proxy. On Windows only SIGTERM (a stop asked of this
    process): Ctrl-C and Ctrl-Break reach every process of the console, the proxy too."""
    if IS_WINDOWS:
        return (signal.SIGTERM,)
    wanted = [signal.SIGTERM, signal.SIGINT]
    reload = reload_signal()
    if reload is not None:
        wanted.append(reload)
    return tuple(wanted)


def console_signals() -> tuple[signal.Signals, ...]:
    """Windows: the console's Ctrl-C / Ctrl-Break, which the proxy gets by itself; the
    supervisor notes them (a stop) and waits for it, rather than die first."""
    if not IS_WINDOWS:
        return ()
    return tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGBREAK", None)) if s)


def stop_signals() -> frozenset[int]:
    """Signals that mean "stop" (the proxy's exit after one is a clean stop)."""
    names = ("SIGTERM", "SIGINT", "SIGBREAK") if IS_WINDOWS else ("SIGTERM", "SIGINT")
    return frozenset(int(getattr(signal, name)) for name in names if hasattr(signal, name))


def clean_stop_codes() -> frozenset[int]:
    """Exit statuses of a proxy that stopped because it was asked to."""
    codes = {0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM}
    if IS_WINDOWS:
        # Ctrl-C, and Popen.terminate() (TerminateProcess with status 1)
        codes |= {_WINDOWS_CTRL_C_EXIT, 1}
    return frozenset(int(code) for code in codes)


def supervisor_replaces_serve() -> bool:
    """`serve` becomes the supervisor with `os.execv` (it drops the parsed config, 150 MB at
    10,000 channels). Windows has no exec: `os.execv` starts a new process and ends this one, so
    the console would get its prompt back while the proxy runs on; there `serve` supervises
    in its own process."""
    return not IS_WINDOWS


def parent_death_signal_available() -> bool:
    """Linux's PR_SET_PDEATHSIG: a child gets SIGTERM when its parent dies, even by SIGKILL."""
    return IS_LINUX


def popen_can_preexec() -> bool:
    """`subprocess.Popen(preexec_fn=...)` is POSIX only (Windows raises ValueError)."""
    return not IS_WINDOWS


def workers_refused(count: int) -> str | None:
    """Why `serve --workers count` cannot run here, or None. Several workers are uvicorn's
    multiprocess supervisor, LiteLLM's command line and our embedded state server: tested on
    Linux, and on macOS with one shared socket; not on Windows."""
    if count > 1 and IS_WINDOWS:
        return WORKERS_NEED_POSIX
    return None


def balanced_worker_sockets() -> bool:
    """A listening socket per worker, spread by the kernel (`SO_REUSEPORT`,
    router_ext/balanced_workers.py): Linux's load balancing. macOS has the option but hands a
    port's connections to one of the sockets, and Windows has none: elsewhere the workers share
    uvicorn's one socket (LiteLLM's own way)."""
    return IS_LINUX and hasattr(socket, "SO_REUSEPORT")


def pid_alive(pid: int) -> bool:
    """Is process `pid` running? POSIX: signal 0. Windows: `os.kill(pid, 0)` would send
    CTRL_C_EVENT (which is 0) to a process group, so the process is looked up instead."""
    if IS_WINDOWS:
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _kernel32() -> Any:
    """Windows' kernel32, its handle-returning functions typed (a handle is pointer-sized)."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.OpenProcess.restype = ctypes.c_void_p
    kernel32.OpenProcess.argtypes = (ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong)
    kernel32.GetExitCodeProcess.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong))
    kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
    return kernel32


def _last_error() -> int:
    import ctypes

    return int(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]  # Windows only


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    process_query_limited_information, error_access_denied = 0x1000, 5
    kernel32 = _kernel32()
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        # no such process (ERROR_INVALID_PARAMETER); one we may not query is running
        return _last_error() == error_access_denied
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == _WINDOWS_STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
