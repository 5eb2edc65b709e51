"""`/api/v1/*` on the proxy's port, as OpenRouter's clients call it.

A route in front of the app's others takes `POST /api/v1/{chat/completions, completions,
responses, messages, embeddings}`, moves OpenRouter's routing fields out of the body into a header
the pre-call hook reads (preferences.py), and hands the request to the app's own route table as
`/v1/...`: the same auth, hooks, relay and failover as any request. The answer is then shaped as
OpenRouter's clients parse it (their SDKs validate strictly):

- `id` becomes `gen-<our request id>`, so `GET /api/v1/generation?id=` finds the record;
- `provider` (the serving channel) and `usage.cost` (USD) on every chat answer, streamed or not
  (OpenRouter always sends usage now; a stream is asked for it and its last chunk carries it);
- keys the SDKs reject as null are dropped (`tool_calls`, `function_call`, a delta's `role`, a
  chunk's `system_fingerprint`), keys they require are present (`system_fingerprint` on a
  completion, `finish_reason` on a streamed choice);
- errors as `{"error": {"code": <int>, "message", "metadata"}}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from router_ext.openrouter.preferences import OPENROUTER_HEADER, PreferenceError, take_preferences

PREFIX = "/api/v1/"
FORWARDED_MARK = "smart_router_openrouter"  # in the scope we hand on: not matched again
FORWARDED = ("chat/completions", "completions", "responses", "messages", "embeddings")
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Message = MutableMapping[str, Any]


class OpenRouterWire(BaseRoute):
    """Matches the forwarded paths; `dispatch` is the app's router (called with `/v1/...`)."""

    def __init__(self, dispatch: ASGIApp, shape: AnswerShaper) -> None:
        self.dispatch = dispatch
        self.shape = shape

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not scope.get(FORWARDED_MARK):
            path = scope["path"]
            if path.startswith(PREFIX) and path[len(PREFIX) :].rstrip("/") in FORWARDED:
                return Match.FULL, {}
            if any(name.lower() == OPENROUTER_HEADER.encode() for name, _ in scope.get("headers", [])):
                return Match.FULL, {"openrouter_forged": True}  # stripped, then routed as usual
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != OPENROUTER_HEADER.encode()]
        if scope.get("openrouter_forged"):
            await self.dispatch({**scope, "headers": headers, FORWARDED_MARK: True}, receive, send)
            return
        path = scope["path"][len(PREFIX) - 1 :].rstrip("/")  # "/chat/completions"
        body = await _read_body(receive)
        stream = False
        if scope["method"] == "POST" and body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None  # LiteLLM answers a body that is no JSON: its 400, shaped below
            if isinstance(data, dict):
                try:
                    prefs = take_preferences(data)
                except PreferenceError as error:
                    await _send_json(send, 400, _error_body(400, str(error), {"param": error.field}))
                    return
                reasoning = data.pop("reasoning", None)
                if isinstance(reasoning, dict) and reasoning.get("effort") and "reasoning_effort" not in data:
                    data["reasoning_effort"] = reasoning["effort"]
                stream = bool(data.get("stream"))
                if stream and path == "/chat/completions":
                    data["stream_options"] = {**(data.get("stream_options") or {}), "include_usage": True}
                body = json.dumps(data).encode()
                headers.append((OPENROUTER_HEADER.encode(), prefs.to_header().encode()))
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        forwarded = {
            **scope,
            "path": "/v1" + path,
            "raw_path": ("/v1" + path).encode(),
            "headers": headers,
            FORWARDED_MARK: True,
        }
        await self.dispatch(forwarded, _replay(body, receive), self.shape.sender(send, path, stream))


class AnswerShaper:
    """Shapes what the app sends back; `price` answers a channel's cost for (prompt, completion)
    tokens, `provider` the name shown for a channel."""

    def __init__(
        self, price: Callable[[str, int, int], float | None], provider: Callable[[str], str | None]
    ) -> None:
        self.price = price
        self.provider = provider

    def sender(self, send: Send, path: str, stream: bool) -> Send:
        state: dict[str, Any] = {"buffer": b"", "start": None}

        async def shaped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                state.update(status=message["status"], headers=headers, start=message)
                content_type = headers.get("content-type", "")
                state["sse"] = "text/event-stream" in content_type
                state["json"] = "json" in content_type
                if state["sse"]:
                    message["headers"] = [
                        (k, v) for k, v in message["headers"] if k.lower() != b"content-length"
                    ]
                    await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            if state["sse"]:
                state["buffer"] += message.get("body", b"")
                events, _, state["buffer"] = state["buffer"].rpartition(b"\n\n")
                out = self._events(events + b"\n\n", state) if events else b""
                if not message.get("more_body", False) and state["buffer"]:
                    out += self._events(state["buffer"], state)
                    state["buffer"] = b""
                await send(
                    {"type": "http.response.body", "body": out, "more_body": message.get("more_body", False)}
                )
                return
            state["buffer"] += message.get("body", b"")
            if message.get("more_body", False):
                return
            body = state["buffer"]
            if state.get("json"):
                body = self._json(body, state, path)
            start = state["start"]
            start["headers"] = [
                *((k, v) for k, v in start["headers"] if k.lower() != b"content-length"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return shaped

    def _json(self, body: bytes, state: dict[str, Any], path: str) -> bytes:
        try:
            answer = json.loads(body)
        except ValueError:
            return body
        status = int(state.get("status") or 200)
        if status >= 400 and isinstance(answer, dict):
            return json.dumps(_openrouter_error(answer, status, state["headers"])).encode()
        if path == "/chat/completions" and isinstance(answer, dict):
            self._completion(answer, state["headers"])
        return json.dumps(answer).encode()

    def _completion(self, answer: dict[str, Any], headers: dict[str, str]) -> None:
        request_id, channel = headers.get("x-router-request-id"), headers.get("x-router-channel")
        if request_id:
            answer["id"] = f"gen-{request_id}"
        answer.setdefault("system_fingerprint", None)
        answer["object"] = "chat.completion"
        provider = self.provider(channel) if channel else None
        if provider:
            answer["provider"] = provider
        for choice in answer.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                _drop_nulls(message, ("tool_calls", "function_call", "audio", "refusal", "annotations"))
        usage = answer.get("usage")
        if isinstance(usage, dict):
            _clean_usage(usage)
            settled = headers.get("x-router-cost-usd")
            cost = float(settled) if settled is not None else None
            if cost is None and channel:
                cost = self.price(
                    channel, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
                )
            usage["cost"] = float(cost or 0.0)

    def _events(self, chunk: bytes, state: dict[str, Any]) -> bytes:
        out = []
        for event in chunk.split(b"\n\n"):
            if not event.strip():
                continue
            lines = []
            for line in event.split(b"\n"):
                if line.startswith(b"data:") and line[5:].strip() not in (b"[DONE]", b""):
                    try:
                        data = json.loads(line[5:])
                    except ValueError:
                        lines.append(line)
                        continue
                    if isinstance(data, dict):
                        self._chunk(data, state)
                    line = b"data: " + json.dumps(data).encode()
                lines.append(line)
            out.append(b"\n".join(lines))
        return b"\n\n".join(out) + b"\n\n"

    def _chunk(self, chunk: dict[str, Any], state: dict[str, Any]) -> None:
        headers = state["headers"]
        request_id, channel = headers.get("x-router-request-id"), headers.get("x-router-channel")
        if "error" in chunk and isinstance(chunk["error"], dict):
            error = chunk["error"]
            code = _int_code(error.get("code"), 502)
            chunk["error"] = {
                "code": code,
                "message": str(error.get("message") or "upstream error"),
                "metadata": {"error_type": str(error.get("type") or "provider_error")},
            }
            return
        if request_id:
            chunk["id"] = f"gen-{request_id}"
        chunk["object"] = "chat.completion.chunk"
        if chunk.get("system_fingerprint") is None:
            chunk.pop("system_fingerprint", None)
        provider = self.provider(channel) if channel else None
        if provider:
            chunk["provider"] = provider
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            choice.setdefault("finish_reason", None)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                _drop_nulls(
                    delta,
                    ("role", "tool_calls", "function_call", "audio", "refusal", "content")
                    if delta.get("content") is None
                    else ("role", "tool_calls", "function_call", "audio", "refusal"),
                )
                if delta.get("role") not in (None, "assistant"):
                    delta.pop("role", None)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            _clean_usage(usage)
            cost = (
                self.price(
                    channel, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
                )
                if channel
                else None
            )
            usage["cost"] = float(cost or 0.0)
        elif usage is None:
            chunk.pop("usage", None)


def _clean_usage(usage: dict[str, Any]) -> None:
    for name in ("prompt_tokens_details", "completion_tokens_details"):
        details = usage.get(name)
        if isinstance(details, dict):
            for key in [k for k, v in details.items() if v is None]:
                del details[key]
        elif name in usage:
            del usage[name]
    for key in [k for k, v in usage.items() if v is None]:
        del usage[key]


def _drop_nulls(values: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in values and values[key] is None:
            del values[key]


def _int_code(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _error_body(status: int, message: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "metadata": metadata or {}}}


def _openrouter_error(answer: dict[str, Any], status: int, headers: dict[str, str]) -> dict[str, Any]:
    found = answer.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else answer
    message = error.get("message") or answer.get("detail") or "error"
    metadata = {k: error[k] for k in ("type", "param") if error.get(k) is not None}
    if headers.get("x-router-status"):
        metadata["router_status"] = headers["x-router-status"]
    return _error_body(status, str(message), metadata)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as read (and rewritten), then the client's own messages: a streamed answer
    listens for the client's disconnect."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replayed


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})
