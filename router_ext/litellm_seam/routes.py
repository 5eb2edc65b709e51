"""Our routes on LiteLLM's proxy app, and the routes we put in front of LiteLLM's own.

Relies on `proxy_server.app` (its route table: `include_router`, `routes.insert(0, ...)`), on
LiteLLM's `/v1/models` handler (`proxy_server.model_list`), its `/v1/messages` handler
(`anthropic_response`) and its auth dependency (`user_api_key_auth`), called with the same
signature so FastAPI resolves the same parameters. Checked on 1.108.7 and 1.110.2; each wrapper is
a feature (features.py) that stays off when what it needs is missing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from router_ext.admin.auth import require_some_key
from router_ext.litellm_seam import body_guard
from router_ext.litellm_seam.features import check_features
from router_ext.litellm_seam.proxy_globals import model_listing_handler, proxy_app

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime


def virtual_model_entries(names: list[str]) -> list[dict[str, Any]]:
    created = int(time.time())
    return [{"id": name, "object": "model", "created": created, "owned_by": "smart-router"} for name in names]


def _with_virtual_models(runtime: RouterRuntime, listing: Any) -> Any:
    @functools.wraps(listing)
    async def model_list(*args: Any, **kwargs: Any) -> Any:
        result = await listing(*args, **kwargs)
        if isinstance(result, dict) and isinstance(result.get("data"), list):
            listed = {entry.get("id") for entry in result["data"] if isinstance(entry, dict)}
            entries = virtual_model_entries(runtime.virtual_model_names())
            result["data"] += [e for e in entries if e["id"] not in listed]
        return result

    return model_list


def _with_our_failures(runtime: RouterRuntime, handler: Any) -> Any:
    """LiteLLM's `/v1/messages` renders the last upstream error (a 500) and drops what our
    failure hook returns: put our 503 `all_channels_failed`, with its headers, in Anthropic's
    error shape instead."""

    @functools.wraps(handler)
    async def messages(*args: Any, **kwargs: Any) -> Any:
        result = await handler(*args, **kwargs)
        if isinstance(result, Response) and result.status_code >= 500:
            answer = runtime.flow.answer_for(result.headers.get("x-litellm-call-id"))
            if answer is not None:
                detail = answer.detail if isinstance(answer.detail, dict) else {"message": str(answer.detail)}
                body = {
                    "type": "error",
                    "error": {"type": answer.type, "message": detail.get("message"), **detail},
                }
                headers = {
                    k: v
                    for k, v in result.headers.items()
                    if k.lower() not in ("content-length", "content-type")
                }
                return JSONResponse(
                    body, status_code=answer.status_code, headers={**headers, **(answer.headers or {})}
                )
        return result

    return messages


def mount(runtime: RouterRuntime, routers: Iterable[APIRouter]) -> None:
    """Our routers, then the routes in front of LiteLLM's whose features are on."""
    app: FastAPI = proxy_app()
    if getattr(app.state, "smart_router_mounted", False):
        return
    features = check_features()
    for router in routers:
        app.include_router(router)
    if features.on("virtual_model_listing"):
        _list_virtual_models(app, runtime)
    if features.on("messages_errors"):
        _answer_messages_failures(app, runtime)
    if runtime.settings.fast_streams and features.on("relay"):
        from router_ext.litellm_seam.chat_relay import build_fast_chat_route

        fast_chat = build_fast_chat_route(runtime)
        for path in ("/v1/chat/completions", "/chat/completions"):
            app.router.routes.insert(
                0,
                APIRoute(
                    path,
                    fast_chat,
                    methods=["POST"],
                    tags=["chat/completions"],
                    include_in_schema=False,
                ),
            )
    if features.on("body_guard"):
        body_guard.install(app)  # after our routes: they use LiteLLM's auth too
    _serve_openrouter_paths(app, runtime)
    app.state.smart_router_mounted = True


def _serve_openrouter_paths(app: FastAPI, runtime: RouterRuntime) -> None:
    """`/api/v1/*` handed to the app's own route table as `/v1/*` (router_ext/openrouter/wire.py):
    first, so every route it reaches (the relay's included) is the one `/v1` reaches."""
    from accounting.cost import Usage, price_cost
    from router_ext.openrouter.wire import AnswerShaper, OpenRouterWire

    def price(channel_id: str, prompt: int, completion: int) -> float | None:
        return price_cost(runtime.catalogue.channel(channel_id), Usage(prompt, completion))

    def provider(channel_id: str) -> str | None:
        channel = runtime.catalogue.channel(channel_id)
        return channel.channel if channel is not None else None

    app.router.routes.insert(0, OpenRouterWire(app.router, AnswerShaper(price, provider)))


def _list_virtual_models(app: FastAPI, runtime: RouterRuntime) -> None:
    # LiteLLM's listing can only be narrowed by callbacks, so we put a route in front of it
    # that calls LiteLLM's own handler (same signature, same auth) and appends our names.
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    listing = _with_virtual_models(runtime, model_listing_handler())
    for path in ("/v1/models", "/models"):
        route = APIRoute(
            path,
            listing,
            methods=["GET"],
            dependencies=[Depends(require_some_key), Depends(user_api_key_auth)],
            tags=["model management"],
            include_in_schema=False,
        )
        app.router.routes.insert(0, route)


def _answer_messages_failures(app: FastAPI, runtime: RouterRuntime) -> None:
    # LiteLLM registers its own routers during its start-up, after or before this: a route of
    # ours in front calls its handler (same signature, so the same auth dependency).
    from litellm.proxy.anthropic_endpoints.endpoints import anthropic_response
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    app.router.routes.insert(
        0,
        APIRoute(
            "/v1/messages",
            _with_our_failures(runtime, anthropic_response),
            methods=["POST"],
            dependencies=[Depends(user_api_key_auth)],
            tags=["[beta] Anthropic `/v1/messages`"],
            include_in_schema=False,
        ),
    )
