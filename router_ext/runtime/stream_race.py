"""The race of two streams' first items, for the endpoints LiteLLM's own race does not cover.

Anthropic Messages and Responses streams come back from the Router before their first item
(chat completions come back after it, which is why chat hedges through LiteLLM's
`fastest_response` instead; router_ext/runtime/hedging.py). So the race runs around the Router's
call (router_ext/litellm_seam/router_calls.py): the primary's call and first token race the
hedge's, which goes out after the hedge delay; whichever first token comes first wins (the frames
a stream sends before it, `message_start` say, are read past and kept); the other stream is closed
(its HTTP connection) in the background. Both shapes of a slow tail are cut: an upstream late
before its headers, and one late with its first token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

OpenHedge = Callable[[], Awaitable[Any]]  # -> the hedge's stream

# What a stream sends before its first token, at once and whatever the upstream's delay (a
# Router stream with no fallback left forwards these live): the race waits past them.
_RESPONSES_LIFECYCLE = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.output_item.added",
        "response.content_part.added",
    }
)
_MESSAGES_DECISIVE = (b"content_block_delta", b"message_delta", b"message_stop", b"error")


def before_first_token(item: Any) -> bool:
    """An Anthropic Messages frame (bytes) or a Responses event that carries no output yet."""
    if isinstance(item, bytes | str):
        raw = item.encode() if isinstance(item, str) else item
        return not any(mark in raw for mark in _MESSAGES_DECISIVE)
    kind = getattr(item, "type", None)
    return str(getattr(kind, "value", kind)) in _RESPONSES_LIFECYCLE


@dataclass(slots=True)
class Buffered:
    """A stream whose items up to its first token (or the error it ended with) the race has
    already read."""

    first: Any  # a list of items, or the exception
    stream: Any
    failed: bool = False

    def replay(self) -> AsyncIterator[Any]:
        return _replay(self)


@dataclass(slots=True)
class RaceResult:
    served: Buffered
    hedged: bool  # the hedge went out
    hedge_won: bool


async def race_first_items(open_primary: OpenHedge, delay_s: float, open_hedge: OpenHedge) -> RaceResult:
    """The primary's call (an upstream may be late before its headers) and its first item race
    the hedge's, which goes out after `delay_s`; the loser is cancelled and closed in the
    background, so the winner's items go out as soon as they exist."""
    opened: dict[str, Any] = {}
    first = asyncio.ensure_future(_open_and_next(open_primary, opened, "first"))
    done, _ = await asyncio.wait({first}, timeout=delay_s)
    if done:
        return RaceResult(_opened(first), hedged=False, hedge_won=False)
    second = asyncio.ensure_future(_open_and_next(open_hedge, opened, "second"))
    winner = await _first_success(first, second)
    if winner is second:
        _abandon(first, opened.get("first"))
        return RaceResult(_opened(second), hedged=True, hedge_won=True)
    _abandon(second, opened.get("second"))
    return RaceResult(_opened(first), hedged=True, hedge_won=False)


def _opened(task: asyncio.Future[Any]) -> Buffered:
    error = task.exception()
    if error is not None:
        return Buffered(error, None, failed=True)
    stream, items = task.result()
    return Buffered(items, stream)


async def close(stream: Any) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


async def _next_item(stream: Any) -> list[Any]:
    """The items up to and with the first that carries output (fewer if the stream ends)."""
    items: list[Any] = []
    while True:
        try:
            item = await stream.__anext__()
        except StopAsyncIteration:
            if items:
                return items
            raise
        items.append(item)
        if not before_first_token(item):
            return items


async def _open_and_next(open_stream: OpenHedge, opened: dict[str, Any], name: str) -> tuple[Any, list[Any]]:
    stream = opened[name] = await open_stream()
    try:
        return stream, await _next_item(stream)
    except BaseException:
        await close(stream)
        raise


async def _first_success(first: asyncio.Future[Any], second: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """The first to produce an item; when one fails the other may still win; when both fail,
    the first stream's failure is what the client gets."""
    pending = {first, second}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in (first, second):  # a tie goes to the first stream
            if task in done and not task.cancelled() and task.exception() is None:
                return task
    return first


_CLEANUPS: set[asyncio.Task[None]] = set()  # held so the loop does not drop them half done


def _abandon(task: asyncio.Future[Any], stream: Any = None) -> None:
    """The loser, cancelled and closed in the background. LiteLLM shields a stream's read from
    cancellation (1.110 its first read too), so waiting for the task would make the client wait
    for the loser, and its upstream would go on until its first token: a stream already open is
    closed at once (its HTTP connection), then the task is let finish."""
    task.cancel()

    async def cleanup() -> None:
        if stream is not None:
            await close(stream)
        with contextlib.suppress(BaseException):
            result = await task
            if isinstance(result, tuple):  # a stream that opened after all
                await close(result[0])

    job = asyncio.get_running_loop().create_task(cleanup())
    _CLEANUPS.add(job)
    job.add_done_callback(_CLEANUPS.discard)


async def _replay(served: Buffered) -> AsyncIterator[Any]:
    if served.failed:
        if isinstance(served.first, StopAsyncIteration):
            return
        raise served.first
    for item in served.first:
        yield item
    async for item in served.stream:
        yield item
