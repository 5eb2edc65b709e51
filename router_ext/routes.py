"""Our admin API under `/routing/*`, and virtual names added to `GET /v1/models`."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from catalog.virtual import BUILTIN_VIRTUAL_MODELS
from router_ext.admin_auth import require_admin, require_some_key
from router_ext.errors import router_error
from router_ext.state import UnknownStrategyError

if TYPE_CHECKING:
    from router_ext.hook import SmartRouterHook


class TagCount(BaseModel):
    tag: str
    channels: int


class TagsResponse(BaseModel):
    channels: int = Field(description="channels in the catalogue")
    tags: list[TagCount]


class StrategyResponse(BaseModel):
    strategy: str
    available: list[str]


class StrategyUpdate(BaseModel):
    strategy: str = Field(description="name of the strategy to make active", examples=["free_first"])


def build_admin_router(hook: SmartRouterHook) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])

    @router.get("/tags", response_model=TagsResponse, summary="Tags and how many channels carry each")
    async def list_tags() -> TagsResponse:
        index = hook.index()
        return TagsResponse(
            channels=index.size,
            tags=[TagCount(tag=t, channels=n) for t, n in index.tag_counts().items()],
        )

    @router.get("/strategy", response_model=StrategyResponse, summary="The active strategy")
    async def get_strategy() -> StrategyResponse:
        return StrategyResponse(strategy=hook.state.active, available=hook.state.available)

    @router.put("/strategy", response_model=StrategyResponse, summary="Switch the active strategy")
    async def put_strategy(update: StrategyUpdate) -> StrategyResponse:
        try:
            hook.state.set_active(update.strategy)
        except UnknownStrategyError as error:
            raise router_error(400, "invalid_strategy", str(error), param="strategy") from None
        return StrategyResponse(strategy=hook.state.active, available=hook.state.available)

    return router


def virtual_model_entries(hook: SmartRouterHook) -> list[dict[str, Any]]:
    created = int(time.time())
    names = [*BUILTIN_VIRTUAL_MODELS, *(spec.name for spec in hook.virtual_models.values())]
    return [{"id": name, "object": "model", "created": created, "owned_by": "smart-router"} for name in names]


def _with_virtual_models(hook: SmartRouterHook, listing: Any) -> Any:
    @functools.wraps(listing)
    async def model_list(*args: Any, **kwargs: Any) -> Any:
        result = await listing(*args, **kwargs)
        if isinstance(result, dict) and isinstance(result.get("data"), list):
            listed = {entry.get("id") for entry in result["data"] if isinstance(entry, dict)}
            result["data"] += [e for e in virtual_model_entries(hook) if e["id"] not in listed]
        return result

    return model_list


def mount_routes(hook: SmartRouterHook) -> None:
    from litellm.proxy import proxy_server

    app: FastAPI = proxy_server.app
    if getattr(app.state, "smart_router_mounted", False):
        return
    app.include_router(build_admin_router(hook))
    # LiteLLM's listing can only be narrowed by callbacks, so we put a route in front of it
    # that calls LiteLLM's own handler (same signature, same auth) and appends our names.
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    listing = _with_virtual_models(hook, proxy_server.model_list)
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
    app.state.smart_router_mounted = True
