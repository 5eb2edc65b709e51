"""Background tasks, stopped for real at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> int:
    """Cancel every task, then wait for each to end (a task that fails while ending is ignored:
    shutdown goes on). Returns how many there were."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return len(running)
