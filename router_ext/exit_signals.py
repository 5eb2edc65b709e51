"""SIGTERM / SIGINT in front of uvicorn's handlers. uvicorn ends the process by re-raising the
signal after its graceful shutdown, which skips atexit: what must be written at a stop is
started from here, and the signal is then handed on (`proceed`), at once or once written."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from router_ext import platform_support

OnExit = Callable[[Callable[[], None]], None]  # receives `proceed`: hand the signal on


def intercept_exit_signals(on_exit: OnExit) -> None:
    """Signal handlers can be set from the main thread only; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: Any, previous: Any = previous) -> None:
            on_exit(lambda: _proceed(previous, number, frame))

        signal.signal(signum, handler)


def _proceed(previous: Any, number: int, frame: Any) -> None:
    if callable(previous):
        previous(number, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(number, signal.SIG_DFL)
        signal.raise_signal(number)


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL, so nothing is left
    holding a port (a `preexec_fn`, or called by a process for itself). Elsewhere a no-op."""
    if not platform_support.parent_death_signal_available():
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def child_process_options() -> dict[str, Any]:
    """`subprocess.Popen` keywords for a child that must not outlive us: Linux's parent-death
    signal, set in the child before it runs. Nothing elsewhere: Windows refuses a `preexec_fn`,
    and on macOS it would be a no-op that costs the fast spawn."""
    if platform_support.parent_death_signal_available() and platform_support.popen_can_preexec():
        return {"preexec_fn": die_with_parent}
    return {}
