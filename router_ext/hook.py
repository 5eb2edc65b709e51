"""The LiteLLM adapter: LiteLLM's callbacks turned into calls on our runtime. No decisions here.

How one request flows (read this first; everything hangs on this seam):

1. `async_pre_call_hook` (proxy, before anything is routed) -> `RequestFlow.route`: a virtual
   name (`tag:...`, `auto`, `auto:*`, a configured virtual model) is resolved against the
   in-memory tag index; hard filters and health drop candidates; the strategy ranks the rest.
   `data["model"]` becomes the deployment id of the best candidate and the next ones become the
   request's LiteLLM `fallbacks`, so the Router makes one concrete call at a time and never
   filters a large group (rewriting here also keeps LiteLLM from splitting `tag:a,b` into a
   batch call). Our routing ticket rides in `data["metadata"]["smart_router"]`.
2. LiteLLM's Router calls that deployment; on a failure before the first byte (streams too)
   it walks the fallbacks. `async_post_call_failure_deployment_hook` sees every failed attempt
   -> `RequestFlow.attempt_failed` (classified, fed to the breakers).
3. The end, once per request: `async_post_call_response_headers_hook` -> the `x-router-*`
   headers (naming the deployment LiteLLM says answered; a non-stream is settled here) and the
   answer's `model` set to the name the client asked for (router_ext/public_model.py);
   `async_logging_hook` -> our outcome in LiteLLM's spend-log metadata; `async_log_success_event`
   -> observations, settlement and the record; or `async_post_call_failure_hook` ->
   `RequestFlow.failed`: the record, and a 503 `all_channels_failed` with every reason.

A plain model name passes through untouched (health still filters its group through
`async_filter_deployments`); its response still carries the headers.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from router_ext import deployment as shape
from router_ext.bootstrap import current_runtime
from router_ext.client_keys import KEY_ID_FIELD
from router_ext.errors import without_traceback
from router_ext.hedge_call import raced_endpoint, start_hedge
from router_ext.litellm_seam.callback_kwargs import (
    answer_of,
    deployment_id_of,
    routing_record,
    to_float,
    usage_in_response,
    usage_of,
    write_routing_decision,
    write_spend_log_metadata,
)
from router_ext.litellm_seam.router_calls import race_streams_in_router_calls
from router_ext.public_model import restamp_chunks, restamp_response_events, stamp_answer
from router_ext.runtime.request_flow import Caller, endpoint_of
from router_ext.runtime.runtime import RouterRuntime
from router_ext.state.spend_tracker import key_hash_of


class SmartRouterHook(CustomLogger):
    def __init__(self, runtime: RouterRuntime) -> None:
        super().__init__()
        self.runtime = runtime
        self.flow = runtime.flow

    # -- before the call -------------------------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        metadata = getattr(user_api_key_dict, "metadata", None) or {}
        key_id = metadata.get(KEY_ID_FIELD) if isinstance(metadata, dict) else None
        caller = Caller(key_hash_of(user_api_key_dict), str(key_id) if key_id else None)
        if self.runtime.settings.hedging.enabled:
            race_streams_in_router_calls(self._raced_call)  # once per Router (LiteLLM may build a new one)
        return await self.flow.route(data, caller, endpoint_of(call_type))

    def _raced_call(self, call: Any, kwargs: dict[str, Any]) -> Any:
        """The Router's Messages or Responses call for a hedged stream, as a race (None: not one)."""
        routed = routing_record(kwargs)
        if not (routed.get("hedge") and kwargs.get("stream") and raced_endpoint(routed.get("endpoint"))):
            return None
        return self.flow.race_call(
            routed,
            functools.partial(call, **kwargs),
            functools.partial(start_hedge, call, dict(kwargs), str(routed["hedge"])),
        )

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list,
        messages: Any = None,
        request_kwargs: dict | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict]:
        return self.flow.healthy(healthy_deployments, shape.deployment_id)

    # -- attempts --------------------------------------------------------------------------------
    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict | None:
        await self.flow.before_attempt(
            routing_record(kwargs), shape.deployment_id(kwargs) or deployment_id_of(kwargs)
        )
        return None

    async def async_post_call_failure_deployment_hook(
        self, request_data: Any, exception: Exception, call_type: Any, fallback_depth: int | None = None
    ) -> None:
        channel_id = shape.deployment_id(request_data)
        if channel_id:
            self.flow.attempt_failed(channel_id, exception, routing_record(dict(request_data)))

    async def log_success_fallback_event(
        self, original_model_group: str, kwargs: dict, original_exception: Exception
    ) -> None:
        self.flow.fallback_happened(original_model_group, routing_record(kwargs), original_exception)

    async def log_failure_fallback_event(
        self, original_model_group: str, kwargs: dict, original_exception: Exception
    ) -> None:
        self.flow.fallback_happened(original_model_group, routing_record(kwargs), original_exception)

    # -- the end ---------------------------------------------------------------------------------
    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        answer = answer_of(kwargs, response_obj, start_time, end_time)
        if answer is None:
            self.runtime.start_now()  # the first answer is out: background start-up work may begin
            return
        await self.flow.succeeded(answer, routing_record(kwargs))

    async def async_logging_hook(self, kwargs: dict, result: Any, call_type: str) -> tuple[dict, Any]:
        """Runs before LiteLLM's own loggers: our routing outcome goes where its spend logs (and
        UI, when it has its database) keep custom fields, and a virtual name's decision where its
        logs view shows how a request was routed (`metadata.routing_decision`)."""
        routed, deployment_id = routing_record(kwargs), deployment_id_of(kwargs)
        if deployment_id:
            outcome = await self.flow.logged_outcome(
                routed,
                deployment_id,
                lambda: usage_of(
                    kwargs.get("standard_logging_object") or {}, result, routed, kwargs.get("messages")
                ),
                to_float(kwargs.get("response_cost")),
            )
            if outcome is not None:
                write_spend_log_metadata(kwargs, outcome)
                decision = self.flow.routing_decision(routed, deployment_id)
                if decision is not None:
                    write_routing_decision(kwargs, decision)
        return kwargs, result

    async def async_post_call_failure_hook(
        self,
        request_data: dict,
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> HTTPException | None:
        routed = routing_record(request_data)
        answer = None
        if routed:
            answer = self.flow.failed(routed, original_exception, request_data.get("litellm_call_id"))
        else:
            self.runtime.start_now()
        return answer or without_traceback(original_exception)

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        routed = routing_record(data)
        if response is None:
            return self.flow.rejection_headers(routed)
        info = litellm_call_info or {}
        served_id = str(info.get("model_id") or (info.get("model_info") or {}).get("id") or "")
        if not served_id:
            # An Anthropic Messages answer is a dict whose hidden params LiteLLM drops before
            # this hook: the Router walked our candidates in order, past the ones that failed.
            served_id = self.flow.serving(routed) or ""
        if not served_id:
            return None
        if routed.get("hedge") and raced_endpoint(routed.get("endpoint")):
            served_id = self.flow.hedging.served_by(routed.get("request_id")) or served_id
        if routed.get("requested_model"):
            stamp_answer(response, str(routed["requested_model"]))
        hidden = getattr(response, "_hidden_params", None) or {}
        return await self.flow.response_headers(
            routed,
            served_id,
            str(data.get("model", "")),
            usage_in_response(response),
            to_float(hidden.get("response_cost")),
            hidden.get("additional_headers"),
        )

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict
    ) -> AsyncGenerator[Any, None]:
        routed = routing_record(request_data)
        stream = self.flow.served_stream(routed, response)
        if routed.get("endpoint") == "responses" and routed.get("requested_model"):
            stream = restamp_response_events(stream, str(routed["requested_model"]))
        elif routed.get("hedge") and routed.get("endpoint") == "chat" and routed.get("requested_model"):
            stream = restamp_chunks(stream, str(routed["requested_model"]))
        async for chunk in stream:
            yield chunk


_handler: SmartRouterHook | None = None


def __getattr__(name: str) -> Any:
    """`proxy_handler`, named in a LiteLLM config as
    `litellm_settings.callbacks: ["router_ext.hook.proxy_handler"]`, is built when LiteLLM asks
    for it (importing this module alone builds nothing, so tests can use the class)."""
    global _handler
    if name != "proxy_handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _handler is None:
        _handler = SmartRouterHook(current_runtime())
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _handler  # started on the first request instead
        _handler.runtime.ensure_started()
    return _handler
