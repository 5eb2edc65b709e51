"""`/routing/channels` writes (master key): stored channels, their keys, tests. Bodies are read
here, not by FastAPI's models, so that a bad one is our 400 naming the field, not a 422."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from router_ext.admin.auth import require_admin
from router_ext.errors import router_error

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise router_error(400, "invalid_json", "the body is not valid JSON") from None
    except RecursionError:
        raise router_error(400, "invalid_json", "the body is nested too deeply to be a channel") from None


def build_channel_router(runtime: RouterRuntime) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])
    channels = runtime.channel_admin

    @router.get("/channels/stored", summary="Stored channels as defined (keys as prefixes only)")
    async def stored() -> dict[str, Any]:
        return await channels.listing()

    @router.post(
        "/channels", status_code=201, summary="Add a channel (a LiteLLM deployment); routable at once"
    )
    async def create(request: Request) -> JSONResponse:
        return JSONResponse(await channels.create(await _body(request)), status_code=201)

    @router.patch("/channels/{channel_id}", summary="Change a stored channel; enable / disable any channel")
    async def patch(channel_id: str, request: Request) -> dict[str, Any]:
        return await channels.patch(channel_id, await _body(request))

    @router.delete(
        "/channels/{channel_id}", summary="Delete a stored channel (config channels: edit the file)"
    )
    async def delete(channel_id: str) -> dict[str, Any]:
        return await channels.delete(channel_id)

    @router.post(
        "/channels/{channel_id}/keys", status_code=201, summary="Add an upstream key (a rotation pool member)"
    )
    async def add_key(channel_id: str, request: Request) -> JSONResponse:
        return JSONResponse(await channels.add_key(channel_id, await _body(request)), status_code=201)

    @router.delete("/channels/{channel_id}/keys/{key_id}", summary="Remove an upstream key")
    async def delete_key(channel_id: str, key_id: str) -> dict[str, Any]:
        return await channels.delete_key(channel_id, key_id)

    @router.post("/channels/{channel_id}/test", summary="One small real call: latency and the error class")
    async def test(channel_id: str) -> dict[str, Any]:
        return await channels.test(channel_id)

    return router
