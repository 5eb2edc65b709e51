"""`/routing/discover`, `/routing/prices*`, `/routing/jobs`: discovery and prices for admins.
Manual triggers answer what changed: models added / removed, prices changed, and errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Response

from router_ext.admin.auth import require_admin
from router_ext.catalogue.reload import ReloadError
from router_ext.errors import router_error
from router_ext.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime


def build_catalogue_router(runtime: RouterRuntime) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])
    admin = runtime.admin

    @router.post("/discover", summary="List every wildcard channel now; answers models added / removed")
    async def discover() -> dict[str, Any]:
        return await admin.discover()

    @router.get("/discovery", summary="Wildcard channels: models listed, when, last error")
    async def discovery_state() -> dict[str, Any]:
        return {"sources": admin.discovery_state()}

    @router.post("/prices/refresh", summary="Fetch prices now; answers prices parsed / changed per channel")
    async def refresh_prices(
        channel: str | None = Query(None, description="only this channel"),
    ) -> dict[str, Any]:
        return await admin.refresh_prices(channel)

    @router.get("/prices", summary="The price table: USD per million tokens, per channel, with age")
    async def prices(channel: str | None = Query(None)) -> dict[str, Any]:
        return admin.prices(channel)

    @router.get("/prices/history", summary="Every price seen for one model of one channel, newest first")
    async def price_history(channel: str = Query(...), model: str = Query(...)) -> dict[str, Any]:
        return {"history": await admin.price_history(channel, model)}

    @router.post("/reload", summary="Re-read the config file and apply added / removed / changed channels")
    async def reload() -> dict[str, Any]:
        try:
            result = await runtime.reload()
        except ReloadError as error:
            raise router_error(400, "invalid_config", str(error)) from None
        return result.as_dict()

    @router.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response)
    async def metrics() -> Response:
        return Response(admin.metrics_text(), media_type=CONTENT_TYPE)

    @router.get("/jobs", summary="Scheduled jobs on this replica: runs, firings another replica took")
    async def jobs() -> dict[str, Any]:
        return {"replica": admin.replica(), "jobs": admin.jobs()}

    return router
