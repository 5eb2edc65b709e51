"""Our routes on LiteLLM's proxy app: `/routing/*`, the dashboard, and (through the LiteLLM seam)
the routes in front of LiteLLM's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router_ext.admin.catalogue import build_catalogue_router
from router_ext.admin.channels import build_channel_router
from router_ext.admin.keys import build_key_router
from router_ext.admin.routing import build_admin_router
from router_ext.admin.ui import build_ui_router
from router_ext.openrouter.api import build_openrouter_router

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime


def mount_routes(runtime: RouterRuntime) -> None:
    from router_ext.litellm_seam import routes

    routes.mount(
        runtime,
        [
            build_admin_router(runtime),
            build_key_router(runtime),
            build_channel_router(runtime),
            build_catalogue_router(runtime),
            build_ui_router(),
            build_openrouter_router(runtime),
        ],
    )
