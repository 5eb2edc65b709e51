"""`GET /routing/ui`: the dashboard, one static page (no build step). The page itself is public;
it asks for the admin key, keeps it in the browser's sessionStorage only, and sends it with
each call to the admin API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).with_name("dashboard.html")


def build_ui_router() -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"])

    @router.get("/ui", response_class=HTMLResponse, summary="Dashboard (asks for the admin key)")
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(
            PAGE.read_text(encoding="utf-8"),
            headers={
                "cache-control": "no-store",
                "x-frame-options": "DENY",
                "referrer-policy": "no-referrer",
            },
        )

    return router
