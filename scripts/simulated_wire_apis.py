"""The simulated providers' other wire APIs: OpenAI Responses, Anthropic Messages, embeddings,
and scripted tool calls, in the formats of the real samples (../shared/fixtures/openai,
../shared/fixtures/anthropic).

A provider serves `/v1/responses` and `/v1/messages` only when its spec lists them in `native`
(most OpenAI-compatible upstreams do not: they answer 404 `{"detail": "Not Found"}`, as
FastAPI-based servers do); `/v1/embeddings` only for its `embedding_models`.

Tool calls are scripted by the prompt: when a request offers tools and the last user text
contains `[call:NAME]`, the answer calls tool NAME with `{"city": "Paris"}` (or with the
arguments given as `[call:NAME key=value ...]`); when the last message is a tool result, the
answer says `tool said: <result>`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

from starlette.responses import JSONResponse, Response, StreamingResponse

CALL = re.compile(r"\[call:([A-Za-z0-9_\-]+)((?:\s+[A-Za-z_]+=[^\s\]]+)*)\]")
NOT_FOUND = {"detail": "Not Found"}
ARGUMENTS = {"city": "Paris"}


class ToolCall(NamedTuple):
    name: str
    arguments: dict[str, str]


def not_found() -> JSONResponse:
    return JSONResponse(NOT_FOUND, status_code=404)


def texts_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts_of(item)]
    if isinstance(value, dict):
        found = []
        for key in ("text", "content", "output"):
            if key in value:
                found += texts_of(value[key])
        return found
    return []


def words(value: Any) -> int:
    return max(sum(len(t.split()) for t in texts_of(value)), 1)


def scripted_reply(items: list[Any], tools: Any, speaker: str) -> tuple[ToolCall | None, str | None]:
    """(tool to call, text): what a request's last message asks for."""
    # The turn to answer: everything after the last assistant message (Claude Code 2.x puts its
    # environment after the user's text, as a system message the chat bridge makes a user one).
    turn = list(items)
    for at in range(len(items) - 1, -1, -1):
        item = items[at]
        if isinstance(item, dict) and (
            item.get("role") == "assistant" or item.get("type") == "function_call"
        ):
            turn = list(items[at + 1 :])
            break
    results = [item for item in turn if _is_tool_result(item)]
    if results:
        return None, f"tool said: {' '.join(texts_of(results))}".strip()
    match = CALL.search(" ".join(texts_of(turn)))
    if tools and match:
        pairs = dict(pair.split("=", 1) for pair in match.group(2).split())
        return ToolCall(match.group(1), pairs or ARGUMENTS), None
    return None, f"{speaker} says hello"


def _is_tool_result(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("role") == "tool" or item.get("type") == "function_call_output":
        return True
    blocks = item.get("content")
    return isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks
    )


# -- OpenAI Responses API --------------------------------------------------------------------------
def responses(body: dict[str, Any], provider: str, model: str) -> Response:
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
    tool, text = scripted_reply(items, body.get("tools"), f"[{provider}] {model} (responses)")
    prompt = words(items) + words(body.get("instructions") or "")
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 8,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + 8,
    }
    response_id = f"resp_{uuid.uuid4().hex}"
    if tool:
        item: dict[str, Any] = {
            "id": f"fc_{uuid.uuid4().hex[:24]}",
            "type": "function_call",
            "status": "completed",
            "call_id": f"call_{uuid.uuid4().hex[:24]}",
            "name": tool.name,
            "arguments": json.dumps(tool.arguments),
        }
    else:
        item = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
        }
    final = _response_object(response_id, model, body, "completed", [item], usage)
    if not body.get("stream"):
        return JSONResponse(final)
    return StreamingResponse(
        _responses_events(response_id, model, body, item, final), media_type="text/event-stream"
    )


def _response_object(
    response_id: str, model: str, body: dict[str, Any], status: str, output: list[Any], usage: Any
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


async def _responses_events(
    response_id: str, model: str, body: dict[str, Any], item: dict[str, Any], final: dict[str, Any]
) -> AsyncIterator[bytes]:
    started = _response_object(response_id, model, body, "in_progress", [], None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    if item["type"] == "function_call":
        events += [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "arguments": "", "status": "in_progress"},
            },
            {
                "type": "response.function_call_arguments.delta",
                "item_id": item["id"],
                "output_index": 0,
                "delta": item["arguments"],
            },
            {
                "type": "response.function_call_arguments.done",
                "item_id": item["id"],
                "output_index": 0,
                "arguments": item["arguments"],
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        ]
    else:
        text = item["content"][0]["text"]
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        events += [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "content": [], "status": "in_progress"},
            },
            {
                "type": "response.content_part.added",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
            *(
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": word,
                    "logprobs": [],
                }
                for word in _pieces(text)
            ),
            {
                "type": "response.output_text.done",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {
                "type": "response.content_part.done",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "part": {**part, "text": text},
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        ]
    events.append({"type": "response.completed", "response": final})
    for number, event in enumerate(events):
        yield f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': number})}\n\n".encode()


# -- Anthropic Messages ----------------------------------------------------------------------------
def messages(body: dict[str, Any], provider: str, model: str, extra_words: int = 0) -> Response:
    items = list(body.get("messages") or [])
    tool, text = scripted_reply(items, body.get("tools"), f"[{provider}] {model} (messages)")
    if text and extra_words:  # a stream of about that many chunks (the benchmarks)
        text = " ".join([text, *(f"w{i}" for i in range(extra_words))])
    usage = {
        "input_tokens": words(items) + words(body.get("system") or ""),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 8,
        "service_tier": "standard",
    }
    if tool:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": tool.name,
            "input": tool.arguments,
        }
    else:
        block = {"type": "text", "text": text}
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": "tool_use" if tool else "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    if not body.get("stream"):
        return JSONResponse(message, headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"})
    return StreamingResponse(_message_events(message, block), media_type="text/event-stream")


async def _message_events(message: dict[str, Any], block: dict[str, Any]) -> AsyncIterator[bytes]:
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    if block["type"] == "tool_use":
        events += [
            {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            },
        ]
    else:
        events.append(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
        events.append({"type": "ping"})
        events += [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            for piece in _pieces(block["text"])
        ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def count_tokens(body: dict[str, Any]) -> Response:
    return JSONResponse({"input_tokens": words(body.get("messages")) + words(body.get("system") or "")})


# -- embeddings ------------------------------------------------------------------------------------
def embeddings(body: dict[str, Any], model: str) -> Response:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    dimensions = int(body.get("dimensions") or 8)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(((hash(str(t)) >> k) % 1000) / 1000, 3) for k in range(dimensions)],
        }
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(str(t).split()) for t in texts) or 1
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


# -- legacy completions (vLLM, llama.cpp, Ollama and many hosts still serve them) -------------
def completions(body: dict[str, Any], provider: str, model: str) -> Response:
    prompt = body.get("prompt")
    tokens = words(prompt if isinstance(prompt, (str, list)) else "")
    return JSONResponse(
        {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "text": f"[{provider}] {model} says hello",
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 8, "total_tokens": tokens + 8},
        }
    )


# -- chat completions' tool calls ------------------------------------------------------------------
def chat_tool_call(body: dict[str, Any]) -> tuple[ToolCall | None, str | None]:
    """For the chat endpoint: (tool to call, text) when the request is scripted, else (None, None)."""
    items = list(body.get("messages") or [])
    tool, text = scripted_reply(items, body.get("tools"), "")
    if tool or (text and text.startswith("tool said")):
        return tool, text
    return None, None


def tool_call_message(tool: ToolCall) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": tool.name, "arguments": json.dumps(tool.arguments)},
            }
        ],
    }


def _pieces(text: str) -> Iterator[str]:
    parts = text.split(" ")
    for i, part in enumerate(parts):
        yield part if i == len(parts) - 1 else part + " "
