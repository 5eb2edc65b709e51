"""The relay's upstream client: a stream is handed on only once its first complete frame is in.

LiteLLM's pass-through returns as soon as the upstream's headers arrive, so an upstream that answers
200 and then breaks, stalls or sends garbage before its first frame would reach the client as a
broken stream. LiteLLM's chat path reads the first chunk inside the Router's fallback loop; this
client does the same for the relay: `Router.allm_passthrough_route` hands the request's `client` to
LiteLLM's pass-through, whose send we answer only after the first frame, so a failure before it is
an exception inside the attempt and the Router walks on to the next candidate.

With a client of ours LiteLLM no longer applies the deployment's timeout itself (it resolves one
only when no client is given); the Router has resolved it into the call's litellm_params, which
LiteLLM hands the provider config, so the config passes it here on a header this client removes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

TIMEOUT_HEADER = "x-smart-router-relay-timeout"  # ours: never sent upstream
FRAME_ENDS = (b"\n\n", b"\r\n\r\n")
MAX_PEEK_BYTES = 1 << 20  # a first frame this large is sent on unread rather than held


class FirstFrameMissing(httpx.RemoteProtocolError):
    """The upstream's stream ended, or sent what is not a stream, before its first frame."""


def first_frame(buffer: bytes) -> bytes | None:
    """The data of the first complete event in `buffer` (comments and empty events skipped),
    or None while no complete event with data is in."""
    start = 0
    while True:
        ends = [(buffer.find(end, start), end) for end in FRAME_ENDS]
        found = [(at, end) for at, end in ends if at != -1]
        if not found:
            return None
        at, end = min(found)
        data = [line[5:].strip() for line in buffer[start:at].splitlines() if line.startswith(b"data:")]
        if data:
            return b"\n".join(data)
        start = at + len(end)


def check_frame(data: bytes) -> None:
    """Raise when a first frame is not an answer: not JSON, or the upstream's error event."""
    if data == b"[DONE]":
        return
    try:
        parsed = json.loads(data)
    except ValueError:
        raise FirstFrameMissing(f"the upstream's first stream frame is not JSON: {data[:200]!r}") from None
    if isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed:
        raise FirstFrameMissing(f"the upstream's stream began with an error: {data[:500]!r}")


class _Replayed(httpx.AsyncByteStream):
    def __init__(self, head: bytes, rest: AsyncIterator[bytes], response: httpx.Response) -> None:
        self._head, self._rest, self._response = head, rest, response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._head
        async for piece in self._rest:
            yield piece

    async def aclose(self) -> None:
        await self._response.aclose()


class _FirstFrameClient:
    """What LiteLLM's pass-through calls on `client.client`: build_request and send."""

    def __init__(self, inner: httpx.AsyncClient) -> None:
        self._inner = inner

    def build_request(self, *args: Any, headers: Any = None, **kwargs: Any) -> httpx.Request:
        headers = dict(headers or {})
        timeout = headers.pop(TIMEOUT_HEADER, None)
        if timeout is not None:
            kwargs["timeout"] = float(timeout)
        return self._inner.build_request(*args, headers=headers, **kwargs)

    async def send(self, request: httpx.Request, stream: bool = False, **kwargs: Any) -> httpx.Response:
        response = await self._inner.send(request, stream=stream, **kwargs)
        if not stream or response.status_code >= 400:
            return response
        pieces = response.aiter_bytes()
        head = b""
        try:
            while (data := first_frame(head)) is None and len(head) < MAX_PEEK_BYTES:
                try:
                    head += await anext(pieces)
                except StopAsyncIteration:
                    raise FirstFrameMissing(
                        f"the upstream's stream ended before its first frame ({len(head)} bytes)"
                    ) from None
            if data is not None:
                check_frame(data)
        except BaseException:
            await response.aclose()
            raise
        # aiter_bytes has undone any content encoding: the replayed body is plain bytes
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_Replayed(head, pieces, response),
            request=request,
            extensions=response.extensions,
        )


class FirstFrameRelayClient:
    """Passed as the pass-through call's `client` (LiteLLM reads only its `.client`)."""

    def __init__(self, inner: httpx.AsyncClient) -> None:
        self.client = _FirstFrameClient(inner)
