"""The seam between LiteLLM and smart-router. How one request flows:

1. `async_pre_call_hook` (proxy, before anything is routed): a virtual name (`tag:...`,
   `auto`, `auto:*`, a configured virtual model) is resolved against the in-memory tag index
   into candidates, which the active (or requested) strategy ranks. `data["model"]` becomes
   the deployment id of the best candidate, so the Router makes one concrete call and never
   filters a large group; the ranking goes into `data["metadata"]["smart_router"]`.
   Rewriting here is also what keeps LiteLLM from splitting `tag:a,b` into a batch call.
2. LiteLLM's Router calls that deployment (`route_request` -> `Router.acompletion`).
3. `async_post_call_response_headers_hook`: adds `x-router-*` headers naming the deployment
   that actually answered (from LiteLLM's call info, not from our guess).

A plain model name passes through untouched; its response still carries the headers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from router_ext.errors import router_error

from catalog.query import TagQueryError
from catalog.virtual import RouteSpec, resolve_virtual_name
from router_ext.catalogue import Catalogue
from router_ext.request_facts import request_facts, requested_strategy
from router_ext.settings import RouterSettings, load_settings
from router_ext.state import RoutingState, UnknownStrategyError
from strategies.decision import Decision, NoChannelError, decide
from strategies.registry import build_strategies

log = logging.getLogger("smart_router")
METADATA_KEY = "smart_router"


class SmartRouterHook(CustomLogger):
    def __init__(self, settings: RouterSettings) -> None:
        super().__init__()
        self.settings = settings
        self.virtual_models: dict[str, RouteSpec] = settings.route_specs()
        self.state = RoutingState(build_strategies(settings.strategies), settings.strategy)
        self.catalogue = Catalogue()

    # -- the catalogue of the running proxy ------------------------------------------------
    def index(self):  # type: ignore[no-untyped-def]
        from litellm.proxy import proxy_server  # the Router exists only once the proxy started

        router = proxy_server.llm_router
        return self.catalogue.index_for(router.model_list if router is not None else [])

    def route(self, model: str, data: dict[str, Any]) -> Decision | None:
        """The decision for a virtual name, None for a concrete one; raises ProxyException."""
        try:
            spec = resolve_virtual_name(model, self.virtual_models)
        except TagQueryError as error:
            raise _client_error(400, "invalid_tag_query", str(error), "tag-query-invalid") from None
        if spec is None:
            return None
        try:
            strategy_name = self.state.validated(
                requested_strategy(data) or spec.strategy or self.state.active
            )
        except UnknownStrategyError as error:
            raise _client_error(400, "invalid_strategy", str(error), "strategy-invalid") from None
        facts = request_facts(data, self.settings.default_max_tokens)
        try:
            return decide(
                self.index(),
                spec,
                self.state.strategies[strategy_name],
                facts,
                self.settings.max_candidates,
            )
        except NoChannelError as error:
            raise _client_error(
                error.status, error.kind, error.message, error.kind.replace("_", "-")
            ) from None

    # -- LiteLLM hooks ---------------------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        model = data.get("model")
        if not isinstance(model, str):
            return data
        decision = self.route(model, data)
        if decision is None:
            return data
        best = decision.ranked[0]
        data["model"] = best.id
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            metadata = data["metadata"] = {}
        metadata[METADATA_KEY] = {
            "requested_model": model,
            "strategy": decision.strategy,
            "candidates": [channel.id for channel in decision.ranked],
            "scores": list(decision.scores),
            "eligible": decision.eligible,
        }
        return data

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        routed = (data.get("metadata") or {}).get(METADATA_KEY) or {}
        served_id = str((litellm_call_info or {}).get("model_id") or "")
        if response is None or not served_id:
            return None
        index = self.index()
        position = index.position_by_id.get(served_id)
        channel = index.channels[position] if position is not None else None
        headers = {
            "x-router-channel": served_id,
            "x-router-model": channel.upstream_model if channel else str(data.get("model", "")),
            "x-router-strategy": str(routed.get("strategy") or "direct"),
            "x-router-attempts": "1",
        }
        candidates = routed.get("candidates") or []
        if served_id in candidates:
            headers["x-router-score"] = f"{routed['scores'][candidates.index(served_id)]:.4f}"
        return headers


def _client_error(status: int, kind: str, message: str, router_status: str) -> ProxyException:
    return router_error(status, kind, message, param="model", router_status=router_status)


def _config_path() -> str | None:
    from litellm.proxy import proxy_server

    return getattr(proxy_server, "user_config_file_path", None) or os.environ.get("CONFIG_FILE_PATH")


def _build() -> SmartRouterHook:
    hook = SmartRouterHook(load_settings(_config_path()))
    from router_ext.routes import mount_routes

    mount_routes(hook)
    return hook


# Named in a LiteLLM config as `litellm_settings.callbacks: ["router_ext.hook.proxy_handler"]`.
proxy_handler = _build()
