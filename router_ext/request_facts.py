"""What the router needs to know about one request body, read once per request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from strategies.base import RequestFacts


def request_facts(data: Mapping[str, Any], default_max_tokens: int) -> RequestFacts:
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    return RequestFacts(
        prompt_tokens=prompt_tokens(data.get("messages")),
        max_output_tokens=int(max_tokens)
        if isinstance(max_tokens, int) and max_tokens > 0
        else default_max_tokens,
        needs_tools=bool(data.get("tools") or data.get("functions")),
        needs_vision=_has_image(data.get("messages")),
    )


def prompt_tokens(messages: Any) -> int:
    """Prompt tokens by tiktoken (cl100k, bundled with LiteLLM: no download), plus the few
    tokens of framing each message costs."""
    if not isinstance(messages, list):
        return 0
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [
                str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text"
            ]
    text = "\n".join(texts)
    return count_tokens(text) + 4 * len(messages)


def count_tokens(text: str, exact: bool = False) -> int:
    """`exact`: load the tokenizer now if it is not loaded yet (what is billed must be counted,
    not estimated; routing can do with an estimate for the first second)."""
    if not text:
        return 0
    if exact and _ENCODING[0] is None:
        _ENCODING[0] = _load_encoding()
    encoding = _ENCODING[0]
    if encoding is None:
        # The first requests after a start, while the tokenizer loads in the background:
        # bytes / 3 errs high for English (~4 chars a token) and is close for CJK (3 bytes, ~1 token).
        return -(-len(text.encode("utf-8")) // 3)
    return len(encoding.encode(text, disallowed_special=()))


_ENCODING: list[Any] = [None]  # tiktoken cl100k once loaded (LiteLLM bundles it: no download)


async def load_tokenizer() -> None:
    """~0.3-0.4 s of loading, in a thread, after the first answer (see the hook's start-up)."""
    if _ENCODING[0] is None:
        _ENCODING[0] = await asyncio.to_thread(_load_encoding)


def _load_encoding() -> Any:
    from litellm.litellm_core_utils.default_encoding import encoding

    return encoding


def _has_image(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image", "image"):
                    return True
    return False


def requested_strategy(data: Mapping[str, Any]) -> str | None:
    """Per-request override: header `x-router-strategy`, else `metadata.router_strategy`."""
    request = data.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if key.lower() == "x-router-strategy" and value:
                return str(value)
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("router_strategy"):
        return str(metadata["router_strategy"])
    return None
