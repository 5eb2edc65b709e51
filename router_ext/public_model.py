"""The answer's `model` field: always the name the client asked for (`tag:qwen,free`, `auto`,
`claude-sonnet-4-5`, a plain model group), on every endpoint, streamed or not, after failover too.
The channel and upstream model that answered are in `x-router-channel` / `x-router-model`.

Why: LiteLLM already restamps most answers with the client's name, but not after a fallback
(there it shows the fallback's model group: for us a deployment id, or the upstream's own model
string) and never inside the Responses API's stream events. A client that compares the model it
asked for with the one it got (agents do) would see three different answers for one request.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

# LiteLLM's streaming restamp takes this header as the public name once a fallback happened.
_FALLBACK_MODEL_HEADER = "x-litellm-model-group"


def stamp_answer(response: Any, name: str) -> None:
    """A non-streamed answer (a LiteLLM object or, for Anthropic Messages, a dict), before it is
    serialised; and a stream's hidden params, which LiteLLM reads when it starts to send chunks."""
    if isinstance(response, dict):
        if "model" in response:
            response["model"] = name
        return
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict):
        extra = hidden.get("additional_headers")
        if isinstance(extra, dict) and extra.get(_FALLBACK_MODEL_HEADER):
            extra[_FALLBACK_MODEL_HEADER] = name
    if isinstance(getattr(response, "model", None), str):
        with contextlib.suppress(AttributeError, TypeError, ValueError):  # frozen, or a stream wrapper
            response.model = name


async def restamp_response_events(stream: AsyncIterator[Any], name: str) -> AsyncIterator[Any]:
    """Responses API stream events that carry the whole response (created, in_progress,
    completed, incomplete, failed) get the public name; every other chunk passes untouched."""
    async for event in stream:
        inner = getattr(event, "response", None)
        if inner is not None and getattr(inner, "model", name) != name:
            with contextlib.suppress(AttributeError):  # not a pydantic event: left as LiteLLM built it
                event = event.model_copy(update={"response": inner.model_copy(update={"model": name})})
        yield event


async def restamp_chunks(stream: AsyncIterator[Any], name: str) -> AsyncIterator[Any]:
    """Chat chunks of a hedged race: LiteLLM leaves a fastest_response stream's chunks with the
    winner's name. A copy, as LiteLLM's own restamp does: the wrapper prices the originals."""
    async for chunk in stream:
        if isinstance(getattr(chunk, "model", None), str) and chunk.model != name:
            with contextlib.suppress(AttributeError):
                chunk = chunk.model_copy(update={"model": name})
        yield chunk


_MODEL_FIELD = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')


async def restamp_sse_bytes(stream: AsyncIterator[bytes], name: str) -> AsyncIterator[bytes]:
    """A relayed OpenAI stream's frames with the requested name in their `model` field, read frame by
    frame (a frame can span reads) and rewritten as bytes: no JSON parse per chunk."""
    stamp = b'"model":' + json.dumps(name).encode()
    pending = b""
    async for piece in stream:
        pending += piece if isinstance(piece, bytes) else str(piece).encode()
        end = pending.rfind(b"\n\n")
        if end < 0:
            continue
        complete, pending = pending[: end + 2], pending[end + 2 :]
        yield _MODEL_FIELD.sub(stamp, complete)
    if pending:
        yield _MODEL_FIELD.sub(stamp, pending)
