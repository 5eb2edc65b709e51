"""What the router needs to know about one request body, read once per request."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from router_ext.litellm_seam.request_data import request_header
from strategies.base import RequestFacts
from strategies.difficulty import TIERS, PromptView, classify


def request_facts(data: Mapping[str, Any], default_max_tokens: int, endpoint: str = "chat") -> RequestFacts:
    """The same facts from every shape: chat `messages`, Anthropic `system` + content blocks,
    Responses `input` items + `instructions`, embeddings `input`."""
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens") or data.get("max_output_tokens")
    texts: list[str] = []
    images = _collect(data.get("system"), texts) | _collect(data.get("instructions"), texts)
    items = data.get("messages")
    if items is None:
        items = data.get("input") if endpoint != "completions" else data.get("prompt")
    images |= _collect(items, texts)
    framing = 4 * len(items) if isinstance(items, list) else (4 if items else 0)
    tools = data.get("tools") or data.get("functions")
    thinking = _thinking(data)
    difficulty = (
        classify(prompt_view(data, items, len(tools) if isinstance(tools, list) else 0, thinking))
        if endpoint != "embeddings"
        else None
    )
    return RequestFacts(
        prompt_tokens=estimate_tokens("\n".join(texts)) + framing,
        max_output_tokens=0
        if endpoint == "embeddings"
        else int(max_tokens)
        if isinstance(max_tokens, int) and max_tokens > 0
        else default_max_tokens,
        needs_tools=bool(tools),
        needs_vision=images,
        endpoint=endpoint,
        thinking=thinking,
        tool_names=tuple(_tool_names(tools)),
        difficulty=difficulty,
    )


USER_TEXT_PARTS = ("text", "input_text")
LOOK_BACK = 20  # messages searched for the last user turn that holds text


def prompt_view(data: Mapping[str, Any], items: Any, tools: int, thinking: bool) -> PromptView:
    """The last user turn that holds text (an agent's tool results are not the ask), the system
    prompt, and the conversation's size, from chat messages, Anthropic messages, Responses input
    or a completions prompt."""
    system = _system_text(data, items)
    if isinstance(items, str):
        return PromptView(items, system, 1, tools, thinking)
    if not isinstance(items, list):
        return PromptView("", system, 0, tools, thinking)
    user = ""
    for item in reversed(items[-LOOK_BACK:]):
        if isinstance(item, Mapping) and item.get("role") == "user":
            user = _user_text(item.get("content"))
            if user:
                break
    return PromptView(user, system, len(items), tools, thinking)


def _user_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        str(part.get("text"))
        for part in content
        if isinstance(part, Mapping) and part.get("type") in USER_TEXT_PARTS and part.get("text")
    )


def _system_text(data: Mapping[str, Any], items: Any) -> str:
    for value in (data.get("system"), data.get("instructions")):
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return _user_text(value)
    first = items[0] if isinstance(items, list) and items else None
    if isinstance(first, Mapping) and first.get("role") in ("system", "developer"):
        return _user_text(first.get("content"))
    return ""


def prompt_tokens(messages: Any, exact: bool = False) -> int:
    """Prompt tokens plus the few tokens of framing each message costs. Routing uses an
    estimate; `exact` counts with tiktoken (for billing when the upstream reported no usage)."""
    if not isinstance(messages, list):
        return 0
    texts: list[str] = []
    _collect(messages, texts)
    text = "\n".join(texts)
    return (count_tokens(text) if exact else estimate_tokens(text)) + 4 * len(messages)


IMAGE_PARTS = ("image_url", "input_image", "image")
TEXT_KEYS = ("text", "content", "output", "arguments", "input")


def _collect(value: Any, texts: list[str]) -> bool:
    """Append every text inside a message list / content blocks / Responses items; True when an
    image is among them."""
    if isinstance(value, str):
        texts.append(value)
        return False
    if isinstance(value, list):
        found = False
        for item in value:
            found |= _collect(item, texts)
        return found
    if not isinstance(value, Mapping):
        return False
    if value.get("type") in IMAGE_PARTS:
        return True
    found = False
    for key in TEXT_KEYS:
        inner = value.get(key)
        if isinstance(inner, (str, list)):
            found |= _collect(inner, texts)
        elif isinstance(inner, Mapping) and key == "input":  # an Anthropic tool_use's arguments
            texts.append(str(dict(inner)))
    return found


def _thinking(data: Mapping[str, Any]) -> bool:
    thinking = data.get("thinking")
    if isinstance(thinking, Mapping):
        return thinking.get("type") not in (None, "disabled")
    reasoning = data.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, Mapping) else None
    return (
        bool(thinking)
        or bool(effort and effort not in ("none", "minimal"))
        or bool(data.get("reasoning_effort"))
    )


def _tool_names(tools: Any) -> list[str]:
    """Chat `{"type": "function", "function": {"name"}}`, Responses `{"type": "function", "name"}`,
    Anthropic `{"name"}` or server tools `{"type": "web_search_20250305", "name": "web_search"}`."""
    names = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name") or tool.get("type")
        if name:
            names.append(str(name))
    return names


# Scripts written without spaces between words: about one token a character or more.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORDS = re.compile(r"[^\W\d_]+|\d{1,3}")
_PUNCTUATION = re.compile(r"[^\w\s]+")


def estimate_tokens(text: str) -> int:
    """cl100k tokens, estimated without the tokenizer: tiktoken's table costs 37 MB of memory and
    0.4 s to load, for a number routing needs only roughly (context filter, cost estimate).
    Words count one token, plus one per 12 letters; punctuation one per two marks; CJK 1.3 a
    character. Measured against tiktoken on prose, code, JSON and Chinese: 0.97-1.3x, erring
    high, which is the safe side for the context filter."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text) if cjk else text
    words = _WORDS.findall(rest)
    marks = _PUNCTUATION.findall(rest)
    letters = sum(map(len, words))
    return len(words) + letters // 12 + (sum(map(len, marks)) + len(marks)) // 2 + math.ceil(1.3 * cjk)


def count_tokens(text: str) -> int:
    """Exact cl100k tokens (tiktoken, bundled with LiteLLM: no download; loaded on first use)."""
    return len(_encoding().encode(text, disallowed_special=())) if text else 0


@functools.cache
def _encoding() -> Any:
    from router_ext.litellm_seam.tokens import default_encoding

    return default_encoding()


def requested_strategy(data: Mapping[str, Any]) -> str | None:
    """Per-request override: header `x-router-strategy`, else `metadata.router_strategy`."""
    strategy = request_header(data, "x-router-strategy")
    if strategy:
        return strategy
    for key in ("metadata", "litellm_metadata"):
        metadata = data.get(key)
        if isinstance(metadata, Mapping) and metadata.get("router_strategy"):
            return str(metadata["router_strategy"])
    return None


def requested_tier(data: Mapping[str, Any]) -> str | None:
    """A client's own tier for its prompt: header `x-router-tier`, else `metadata.router_tier`.
    It can only raise the floor (the caller applies that); a name that is no tier is a 400."""
    tier = request_header(data, "x-router-tier")
    if not tier:
        for key in ("metadata", "litellm_metadata"):
            metadata = data.get(key)
            if isinstance(metadata, Mapping) and metadata.get("router_tier"):
                tier = str(metadata["router_tier"])
                break
    if not tier:
        return None
    tier = tier.strip().lower()
    if tier not in TIERS:
        raise ValueError(f"x-router-tier must be one of {', '.join(TIERS)}, not {tier!r}")
    return tier
