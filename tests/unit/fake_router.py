"""A small in-process stand-in for LiteLLM's Router and proxy, for request-flow tests.

It keeps a `model_list` like the Router's and calls a request the way the proxy does: the
pre-call hook, then the deployment named by `data["model"]` and, on a failure, each of
`data["fallbacks"]` in order, firing the same callbacks the proxy fires (failure per attempt,
response headers, logging hook, success event, or the failure hook at the end). Upstreams are
plain functions: a deployment answers `Reply` or raises one of LiteLLM's own exceptions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import litellm
from fastapi import HTTPException
from litellm.proxy._types import ProxyException

from router_ext.hook import SmartRouterHook


@dataclass
class Reply:
    text: str = "hi"
    prompt_tokens: int = 10
    completion_tokens: int = 5


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass
class Response:
    usage: Usage
    _hidden_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Auth:
    api_key: str = "sk-test-master"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    status: int
    served_by: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None
    tried: list[str] = field(default_factory=list)


def deployment(deployment_id: str, model: str, **info: Any) -> dict[str, Any]:
    return {
        "model_name": deployment_id,
        "litellm_params": {
            "model": model,
            "api_base": "http://127.0.0.1:9",
            "api_key": f"sk-{deployment_id}",
        },
        "model_info": {"id": deployment_id, **info},
    }


def failure(status: int, message: str = "upstream failed", **headers: str) -> Exception:
    """The exception LiteLLM maps an upstream HTTP error to."""
    kinds: dict[int, Any] = {
        401: litellm.AuthenticationError,
        404: litellm.NotFoundError,
        429: litellm.RateLimitError,
        400: litellm.BadRequestError,
    }
    kind = kinds.get(status, litellm.InternalServerError)
    error = kind(message=message, llm_provider="openai", model="m")
    error.status_code = status
    error.litellm_response_headers = headers
    return error


class FakeRouter:
    def __init__(self, model_list: list[dict[str, Any]]) -> None:
        self.model_list = model_list
        self.upstreams: dict[str, Callable[[dict[str, Any]], Reply]] = {}

    def answers(self, deployment_id: str, reply: Reply | Exception) -> None:
        def upstream(_: dict[str, Any]) -> Reply:
            if isinstance(reply, Exception):
                raise reply
            return reply

        self.upstreams[deployment_id] = upstream

    async def call(self, hook: SmartRouterHook, data: dict[str, Any], auth: Auth | None = None) -> Outcome:
        """One request through the proxy's sequence of callbacks."""
        auth = auth or Auth()
        try:
            data = await hook.async_pre_call_hook(auth, None, data, "acompletion")
        except ProxyException as rejection:
            await hook.async_post_call_failure_hook(data, rejection, auth)
            headers = await hook.async_post_call_response_headers_hook(data, auth, None) or {}
            return Outcome(int(rejection.code), headers=headers, error=rejection)
        chain = (
            [data["model"], *(data.get("fallbacks") or [{}])[0].get("*", [])]
            if data.get("fallbacks")
            else [data["model"]]
        )
        tried: list[str] = []
        last: Exception | None = None
        for deployment_id in chain:
            tried.append(deployment_id)
            info = next(d for d in self.model_list if d["model_info"]["id"] == deployment_id)["model_info"]
            request = {**data, "model_info": info}
            try:
                await hook.async_pre_call_deployment_hook(request, "acompletion")
                reply = self.upstreams[deployment_id](request)
            except Exception as error:  # noqa: BLE001  # what LiteLLM would catch, then fall back
                last = error
                await hook.async_post_call_failure_deployment_hook(request, error, "acompletion")
                continue
            return await self._succeed(hook, data, auth, deployment_id, info, reply, tried)
        assert last is not None
        answer = await hook.async_post_call_failure_hook(data, last, auth)
        headers = await hook.async_post_call_response_headers_hook(data, auth, None) or {}
        status = (
            answer.status_code
            if isinstance(answer, HTTPException)
            else int(getattr(last, "status_code", 500))
        )
        return Outcome(status, headers=headers, error=answer or last, tried=tried)

    async def _succeed(
        self,
        hook: SmartRouterHook,
        data: dict[str, Any],
        auth: Auth,
        deployment_id: str,
        info: dict[str, Any],
        reply: Reply,
        tried: list[str],
    ) -> Outcome:
        usage = Usage(
            reply.prompt_tokens, reply.completion_tokens, reply.prompt_tokens + reply.completion_tokens
        )
        response = Response(usage)
        headers = await hook.async_post_call_response_headers_hook(
            data, auth, response, litellm_call_info={"model_id": deployment_id}
        )
        start = dt.datetime.now()
        kwargs = {
            "litellm_params": {"model_info": info, "metadata": data["metadata"]},
            "metadata": data["metadata"],
            "standard_logging_object": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": usage.total_tokens,
                "metadata": {},
            },
            "messages": data.get("messages"),
            "response_cost": None,
        }
        await hook.async_logging_hook(kwargs, response, "acompletion")
        await hook.async_log_success_event(kwargs, response, start, start + dt.timedelta(milliseconds=20))
        return Outcome(200, served_by=deployment_id, headers=headers or {}, tried=tried)
