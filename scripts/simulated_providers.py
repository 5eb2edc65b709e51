"""Simulated AI providers: real HTTP servers on 127.0.0.1 that answer like the real ones.

One process serves several providers, each on its own port, from a JSON spec:

    {"providers": [{"name": "paid", "models": ["openai/gpt-4o-mini"], "api_key": "sk-x",
                    "latency_ms": 5, "style": "openai"}]}

Each provider speaks the OpenAI chat API (JSON and SSE with the usage chunk, scripted tool calls),
`GET /v1/models` and Ollama's `GET /api/tags`; with `"native": ["responses", "messages"]` the OpenAI
Responses API and Anthropic Messages too, with `"embedding_models"` embeddings (see
simulated_wire_apis.py); other paths answer 404 Not Found, as most OpenAI-compatible upstreams do. Failures are scriptable at run time through `POST /_control`:
a list of steps, each `{"status", "body", "headers", "delay", "drop", "malformed",
"drop_stream", "first_token_delay", "times", "model"}`, consumed in order by matching chat requests. `"pages":
{path: file}` serves files as is (a models API with prices, a pricing page); `POST /_control`
with `{"pages": {path: text}}` swaps them, `{"models": [...]}` changes the listing, `{"reset": true}`
clears steps and counters, `{"clear_steps": true}` the steps only.
`GET /_control` returns counters. On start the process prints one JSON line `{name: port}`.

    python -m scripts.simulated_providers --spec spec.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import random
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from scripts import simulated_wire_apis as wire

# What differs between two connections or two clients, not between two requests
UNRECORDED_HEADERS = frozenset({"host", "content-length", "user-agent", "accept-encoding", "connection"})


@dataclass
class Provider:
    name: str
    models: list[str]
    api_key: str | list[str] | None = None  # one key or several accepted keys; None = any
    latency_ms: float = 0.0
    stream_chunk_delay_ms: float = 0.0
    # A stream's headers go out at once and its first token after this (plus up to
    # `first_token_jitter_ms`); `first_token_late: {"share": 0.1, "ms": 2000}` makes that share of
    # streams that much later (the slow tail hedging is for).
    first_token_ms: float = 0.0
    first_token_jitter_ms: float = 0.0
    first_token_late: dict[str, float] | None = None
    # `headers_late: {"share": 0.08, "ms": 2000}`: that share of chat requests is held that long
    # before anything is answered (no headers yet), the other shape of a slow upstream.
    headers_late: dict[str, float] | None = None
    stream_words: int = 0  # words added to every answer: a stream of about that many chunks
    style: str = "openai"
    steps: list[dict[str, Any]] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    successes: int = 0
    pages: dict[str, str] = field(default_factory=dict)  # path -> body served as is
    native: list[str] = field(default_factory=list)  # "responses", "messages": other wire APIs served
    embedding_models: list[str] = field(default_factory=list)  # served on /v1/embeddings
    # Random failures per chat request, by kind: {"500": 0.1, "429": 0.1, "drop": 0.05,
    # "hang": 0.02, "garbage": 0.05} (a share of requests each; the soak uses it).
    chaos: dict[str, float] = field(default_factory=dict)
    hang_s: float = 30.0
    # The last chat requests as received (path, query, headers, body): differential tests compare
    # what two paths through the proxy sent upstream
    seen: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    # {"requests": 5, "window_s": 60, "style": "openai" | "anthropic" | "openrouter"}: enforced on
    # chat requests (429 past the limit) and announced on every answer, in that upstream's headers.
    rate_limit: dict[str, Any] | None = None
    window_start: float = 0.0
    window_used: int = 0

    def take_request(self) -> tuple[bool, dict[str, str]]:
        """(within the limit, the headers to send)."""
        limit = self.rate_limit
        if not limit:
            return True, {}
        now, span = time.time(), float(limit.get("window_s", 60))
        if now >= self.window_start + span:
            self.window_start, self.window_used = now, 0
        allowed = self.window_used < int(limit["requests"])
        if allowed:
            self.window_used += 1
        return allowed, rate_headers(limit, self.window_used, self.window_start + span, now)

    def first_token_delay_s(self, step: dict[str, Any] | None) -> float:
        if step and step.get("first_token_delay"):
            return float(step["first_token_delay"])
        delay = (self.first_token_ms + random.random() * self.first_token_jitter_ms) / 1000
        late = self.first_token_late
        if late and random.random() < float(late.get("share", 0)):
            delay += float(late.get("ms", 0)) / 1000
        return delay

    def chaos_step(self) -> dict[str, Any] | None:
        roll = random.random()
        for kind, share in self.chaos.items():
            if roll < share:
                return CHAOS[kind](self)
            roll -= share
        return None

    def next_step(self, model: str) -> dict[str, Any] | None:
        for step in self.steps:
            if step.get("model") not in (None, model):
                continue
            times = step.get("times", 1)
            if times != "forever":
                step["times"] = times - 1
                if step["times"] <= 0:
                    self.steps.remove(step)
            return step
        return None


CHAOS: dict[str, Any] = {
    "500": lambda p: {
        "status": 500,
        "body": {"error": {"message": "The server had an error", "type": "server_error"}},
    },
    "429": lambda p: {
        "status": 429,
        "headers": {"retry-after": "1"},
        "body": {
            "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
        },
    },
    "drop": lambda p: {"drop": True},
    "hang": lambda p: {"delay": p.hang_s},
    "garbage": lambda p: {"malformed": True},
}


class DroppedResponse(Response):
    """Headers promising a body, a few bytes of it, then the connection closes: what a client
    sees when an upstream or a proxy in between dies mid-response."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})
        # Returning without the rest makes uvicorn close the connection.


def _words(messages: Any) -> int:
    count = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            count += sum(len(str(p.get("text", "")).split()) for p in content if isinstance(p, dict))
    return max(count, 1)


def rate_headers(limit: dict[str, Any], used: int, reset_at: float, now: float) -> dict[str, str]:
    total = int(limit["requests"])
    left = str(max(total - used, 0))
    style = limit.get("style", "openai")
    if style == "anthropic":
        reset = dt.datetime.fromtimestamp(reset_at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "anthropic-ratelimit-requests-limit": str(total),
            "anthropic-ratelimit-requests-remaining": left,
            "anthropic-ratelimit-requests-reset": reset,
        }
    if style == "openrouter":
        return {
            "X-RateLimit-Limit": str(total),
            "X-RateLimit-Remaining": left,
            "X-RateLimit-Reset": str(int(reset_at * 1000)),
        }
    return {
        "x-ratelimit-limit-requests": str(total),
        "x-ratelimit-remaining-requests": left,
        "x-ratelimit-reset-requests": f"{max(reset_at - now, 0):.3f}s",
    }


def _openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status
    )


def build_app(provider: Provider) -> Starlette:
    accepted = [provider.api_key] if isinstance(provider.api_key, str) else list(provider.api_key or [])

    def authorised(request: Request) -> bool:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        supplied = supplied or request.headers.get("x-api-key", "")
        provider.requests[f"key:...{supplied[-4:]}"] += 1
        return not accepted or supplied in accepted

    async def models(request: Request) -> Response:
        provider.requests["GET /models"] += 1
        if not authorised(request):
            return _openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        created = 1_700_000_000
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": created, "owned_by": provider.name}
                    for m in [*provider.models, *provider.embedding_models]
                ],
            }
        )

    async def ollama_tags(request: Request) -> Response:
        return JSONResponse(
            {
                "models": [
                    {
                        "name": m,
                        "model": m,
                        "modified_at": "2026-02-16T17:44:55.533434954+09:00",
                        "size": 4733363377,
                        "digest": uuid.uuid5(uuid.NAMESPACE_DNS, m).hex,
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": m.split(":")[0],
                            "families": None,
                            "parameter_size": "7B",
                            "quantization_level": "Q4_0",
                        },
                    }
                    for m in provider.models
                ]
            }
        )

    async def chat(request: Request) -> Response:
        allowed, headers = provider.take_request()
        if not allowed:
            provider.requests["429"] += 1
            provider.failures += 1
            style = (provider.rate_limit or {}).get("style")
            body = (
                {
                    "error": {
                        "message": "Rate limit exceeded: free-models-per-min. ",
                        "code": 429,
                        "metadata": {"headers": headers},
                    }
                }
                if style == "openrouter"
                else {
                    "error": {
                        "message": "Rate limit reached for requests",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                }
            )
            return JSONResponse(body, status_code=429, headers=headers)
        answer = await answer_chat(request)
        answer.headers.update(headers)
        return answer

    async def answer_chat(request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        provider.requests[model] += 1
        provider.seen.append(
            {
                "path": request.url.path,
                "query": str(request.url.query),
                "headers": {k: v for k, v in request.headers.items() if k not in UNRECORDED_HEADERS},
                "body": body,
            }
        )
        if not authorised(request):
            provider.failures += 1
            return _openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        step = provider.next_step(model) or provider.chaos_step()
        if provider.latency_ms:
            await asyncio.sleep(provider.latency_ms / 1000)
        late = provider.headers_late
        if late and random.random() < float(late.get("share", 0)):
            await asyncio.sleep(float(late.get("ms", 0)) / 1000)
        if step is not None:
            if step.get("delay"):
                await asyncio.sleep(float(step["delay"]))
            if step.get("drop"):
                provider.failures += 1
                return DroppedResponse()
            if step.get("malformed"):
                provider.failures += 1
                if body.get("stream"):
                    return Response(
                        b'data: {"id": "chatcmpl-broken", "choices": [\n\n', media_type="text/event-stream"
                    )
                return Response(b'{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
            if "status" in step and int(step["status"]) >= 400:
                provider.failures += 1
                return JSONResponse(
                    step.get("body") or {}, status_code=int(step["status"]), headers=step.get("headers") or {}
                )
        if model not in provider.models:
            return _openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        provider.successes += 1
        prompt_tokens = _words(body.get("messages"))
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 16
        completion_tokens = min(int(max_tokens), 8)
        text = f"[{provider.name}] {model} says hello"
        if provider.stream_words:
            text = " ".join([text, *(f"w{i}" for i in range(provider.stream_words))])
        tool, tool_text = wire.chat_tool_call(body)
        text = tool_text or text
        if tool and body.get("stream"):
            return StreamingResponse(
                _sse_tool_call(model, tool, prompt_tokens, completion_tokens), media_type="text/event-stream"
            )
        if body.get("stream"):
            if step and step.get("drop_stream"):
                provider.failures += 1
                provider.successes -= 1
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(
                    provider,
                    model,
                    text,
                    prompt_tokens,
                    completion_tokens,
                    include_usage,
                    bool(step and step.get("drop_stream")),
                    provider.first_token_delay_s(step),
                ),
                media_type="text/event-stream",
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_sim",
                "choices": [
                    {
                        "index": 0,
                        "message": wire.tool_call_message(tool)
                        if tool
                        else {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tool else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            headers={"x-request-id": f"req_{uuid.uuid4().hex}"},
        )

    async def page(request: Request) -> Response:
        """Static answers (a price page, a models API with prices) that tests can swap."""
        path = request.url.path
        if path not in provider.pages:
            return _openai_error(404, f"no page at {path}", "invalid_request_error")
        provider.requests[f"GET {path}"] += 1
        body = provider.pages[path]
        kind = "application/json" if body.lstrip().startswith(("{", "[")) else "text/html; charset=utf-8"
        return Response(body, media_type=kind)

    async def control(request: Request) -> Response:
        if request.method == "POST":
            payload = await request.json()
            provider.pages.update(payload.get("pages", {}))
            if payload.get("reset"):
                provider.seen.clear()
                provider.steps.clear()
                provider.requests.clear()
                provider.failures = 0
                provider.successes = 0
            if payload.get("clear_steps"):  # the steps only: counters kept
                provider.steps.clear()
            provider.steps.extend(payload.get("steps", []))
            if "latency_ms" in payload:
                provider.latency_ms = float(payload["latency_ms"])
            if "first_token_late" in payload:
                provider.first_token_late = payload["first_token_late"]
            if "headers_late" in payload:
                provider.headers_late = payload["headers_late"]
            if "models" in payload:
                provider.models = list(payload["models"])
            if "rate_limit" in payload:
                provider.rate_limit = payload["rate_limit"]
                provider.window_start, provider.window_used = 0.0, 0
        return JSONResponse(
            {
                "name": provider.name,
                "requests": dict(provider.requests),
                "failures": provider.failures,
                "successes": provider.successes,
                "pending_steps": len(provider.steps),
                "models": provider.models,
                "seen": list(provider.seen),
            }
        )

    async def other_api(request: Request) -> Response:
        """Responses, Messages, embeddings: served when the spec says so, else 404 Not Found."""
        body = await request.json()
        model = str(body.get("model", ""))
        path = request.url.path.removeprefix("/v1")
        provider.requests[f"POST {path}"] += 1
        if not authorised(request):
            return _openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if path == "/completions":
            if model not in provider.models:
                return _openai_error(
                    404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"
                )
            provider.successes += 1
            return wire.completions(body, provider.name, model)
        if path == "/embeddings":
            if not provider.embedding_models:
                return wire.not_found()
            if model not in provider.embedding_models:
                return _openai_error(
                    404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"
                )
            return wire.embeddings(body, model)
        api = "responses" if path == "/responses" else "messages"
        if api not in provider.native:
            return wire.not_found()
        if model not in provider.models:
            return _openai_error(
                404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"
            )
        provider.successes += 1
        if path == "/messages/count_tokens":
            return wire.count_tokens(body)
        return (
            wire.responses(body, provider.name, model)
            if api == "responses"
            else wire.messages(body, provider.name, model, provider.stream_words)
        )

    page_routes = [Route(path, page) for path in provider.pages]
    return Starlette(
        routes=[
            *page_routes,
            Route("/v1/models", models),
            Route("/models", models),
            Route("/api/tags", ollama_tags),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/chat/completions", chat, methods=["POST"]),
            Route("/{prefix:path}/chat/completions", chat, methods=["POST"]),  # OpenRouter's /api/v1
            *(
                Route(prefix + path, other_api, methods=["POST"])
                for prefix in ("/v1", "")
                for path in (
                    "/responses",
                    "/messages",
                    "/messages/count_tokens",
                    "/embeddings",
                    "/completions",
                )
            ),
            Route("/_control", control, methods=["GET", "POST"]),
        ]
    )


async def _sse(
    provider: Provider,
    model: str,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    include_usage: bool,
    drop_first: bool,
    first_delay_s: float = 0.0,
) -> AsyncIterator[bytes]:
    if drop_first:
        raise ConnectionAbortedError("scripted stream drop before the first chunk")
    try:
        if first_delay_s:
            await asyncio.sleep(first_delay_s)
    except asyncio.CancelledError:
        provider.requests["stream_closed_before_first_token"] += 1  # the client hung up: a hedge's loser
        raise
    chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def frame(choices: list[dict[str, Any]], usage: Any = None, with_usage_key: bool = True) -> bytes:
        payload: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sim",
            "choices": choices,
        }
        if with_usage_key and include_usage:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield frame(
        [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "finish_reason": None}]
    )
    for word in text.split(" "):
        if provider.stream_chunk_delay_ms:
            await asyncio.sleep(provider.stream_chunk_delay_ms / 1000)
        yield frame([{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}])
    yield frame([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    if include_usage:
        yield frame(
            [],
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        )
    yield b"data: [DONE]\n\n"


async def _sse_tool_call(
    model: str, tool: wire.ToolCall, prompt_tokens: int, completion_tokens: int
) -> AsyncIterator[bytes]:
    chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    call = wire.tool_call_message(tool)["tool_calls"][0]

    def frame(delta: dict[str, Any], finish: str | None, usage: Any = None) -> bytes:
        payload: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield frame({"role": "assistant", "content": None, "tool_calls": [{**call, "index": 0}]}, None)
    yield frame({}, "tool_calls")
    yield frame(
        {},
        None,
        {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    )
    yield b"data: [DONE]\n\n"


class _NoDroppedResponseNoise(logging.Filter):
    """A scripted drop is the point, not a server error: one log line per drop buried CI output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without it a response written in two pieces (headers, body)
    # waits for the client's delayed ACK, and every call takes ~40 ms more than it should.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(spec: dict[str, Any]) -> None:
    logging.getLogger("uvicorn.error").addFilter(_NoDroppedResponseNoise())
    servers, ports = [], {}
    for entry in spec["providers"]:
        provider = Provider(
            name=entry["name"],
            models=list(entry.get("models", [])),
            api_key=entry.get("api_key"),
            latency_ms=float(entry.get("latency_ms", 0)),
            stream_chunk_delay_ms=float(entry.get("stream_chunk_delay_ms", 0)),
            first_token_ms=float(entry.get("first_token_ms", 0)),
            first_token_jitter_ms=float(entry.get("first_token_jitter_ms", 0)),
            first_token_late=entry.get("first_token_late"),
            stream_words=int(entry.get("stream_words", 0)),
            style=entry.get("style", "openai"),
            steps=list(entry.get("steps", [])),
            native=list(entry.get("native", [])),
            embedding_models=list(entry.get("embedding_models", [])),
            chaos={str(k): float(v) for k, v in (entry.get("chaos") or {}).items()},
            hang_s=float(entry.get("hang_s", 30.0)),
            rate_limit=entry.get("rate_limit"),
            pages={
                path: Path(file).read_text(encoding="utf-8") for path, file in entry.get("pages", {}).items()
            },
        )
        sock = _bind(int(entry.get("port", 0)))
        ports[provider.name] = sock.getsockname()[1]
        # Idle connections kept longer than a client keeps them (httpx: 5 s), as real providers
        # do; at uvicorn's 5 s both ends expire a connection at once and a reused one can be
        # closed under the request (a CI soak saw the healthy channel fail that way).
        config = uvicorn.Config(
            build_app(provider), log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=75
        )
        servers.append(uvicorn.Server(config).serve(sockets=[sock]))
    print(json.dumps(ports), flush=True)
    await asyncio.gather(*servers)


def main() -> None:
    parser = argparse.ArgumentParser(description="simulated AI providers on 127.0.0.1")
    parser.add_argument("--spec", required=True, help="JSON file describing the providers")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as handle:
        asyncio.run(serve(json.load(handle)))


if __name__ == "__main__":
    main()
