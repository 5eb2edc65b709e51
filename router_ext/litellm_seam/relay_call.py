"""A relayed stream's call and response, without LiteLLM's general request processing around them.

`base_process_llm_request` serves every route type and every proxy feature: it starts the
during-call guardrails as a task and gathers them with the call, resolves the deployment into a
pydantic object, arms SSE keepalive pings, and chooses among a dozen response shapes. For a relayed
stream none of that applies unless the operator configured it, and on this box it cost about 2 ms
before the first byte (measured interleaved, one proxy: 10.3 -> 8.4 ms over direct, median).

So when nothing needs it (see `litellm_processing_needed`), the relay makes the same call the same
way, through LiteLLM's `route_request` (its request checks, then `Router.allm_passthrough_route`:
deployment, fallbacks, deployment hooks, logging), and builds the response with LiteLLM's own
pieces: the response-headers hook (ours adds `x-router-*`), its `x-litellm-*` headers, and the
streaming response class that closes the upstream when the client goes away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse


def litellm_processing_needed(
    data: Mapping[str, Any], router: Any, general_settings: Mapping[str, Any]
) -> bool:
    """Whether LiteLLM's own processing must run the call: a guardrail or moderation hook that runs
    during or after it, SSE keepalive pings, or cancelling the call on a client disconnect."""
    from litellm.proxy.common_request_processing import ttft_keepalive_interval
    from litellm.proxy.utils import ProxyLogging

    capabilities = ProxyLogging.callback_capabilities()
    return bool(
        capabilities.has_guardrail
        or capabilities.has_moderation_override
        or general_settings.get("cancel_on_disconnect")
        or ttft_keepalive_interval(data, router) is not None
    )


async def call_relay(data: dict[str, Any], request: Request, router: Any, user_api_key_dict: Any) -> Any:
    """The pass-through call, as LiteLLM's processing makes it; the upstream's stream once its
    first frame is in."""
    from litellm.proxy import proxy_server
    from litellm.proxy.native_compaction import with_proxy_compaction_executor
    from litellm.proxy.route_llm_request import route_request

    call = await route_request(
        data=data,
        route_type="allm_passthrough_route",
        llm_router=router,
        user_model=proxy_server.user_model,
        user_api_key_dict=user_api_key_dict,
    )
    return await with_proxy_compaction_executor(call, request)


async def relay_response(
    processor: Any, request: Request, answer: Any, user_api_key_dict: Any, proxy_logging: Any, version: Any
) -> Any:
    """The client's streaming response for the upstream's `answer`, with the headers LiteLLM's
    processing would send."""
    from litellm.proxy.common_request_processing import (
        ProxyBaseLLMRequestProcessing,
        _UpstreamClosingStreamingResponse,
        get_hidden_params_dict,
    )

    data = processor.data
    logging_obj = data.get("litellm_logging_obj")
    if proxy_logging.alerting is not None:  # LiteLLM's hanging-request alerts read it (a local cache write)
        await proxy_logging.update_request_status(
            litellm_call_id=data.get("litellm_call_id", ""), status="success"
        )
    callback_headers = await proxy_logging.post_call_response_headers_hook(
        data=data, user_api_key_dict=user_api_key_dict, response=answer, request_headers=dict(request.headers)
    )
    custom_headers = processor._stream_response_headers(
        hidden_params=get_hidden_params_dict(answer),
        user_api_key_dict=user_api_key_dict,
        logging_obj=logging_obj,
        version=version,
        callback_headers=callback_headers or {},
    )
    headers = ProxyBaseLLMRequestProcessing._merge_passthrough_streaming_headers(
        response_headers=getattr(answer, "headers", None), custom_headers=custom_headers
    )
    if not processor._is_streaming_response(answer):  # an upstream that answered in one piece
        return StreamingResponse(
            content=answer.aiter_bytes(), status_code=answer.status_code, headers=headers
        )
    return _UpstreamClosingStreamingResponse(
        content=answer,
        status_code=getattr(answer, "status_code", 200),
        media_type=processor._passthrough_event_stream_media_type(),
        headers=headers,
    )
