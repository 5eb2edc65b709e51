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

import dataclasses
import logging
import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from catalog.index import TagIndex
from catalog.query import TagQueryError
from catalog.virtual import RouteSpec, resolve_virtual_name
from router_ext.catalogue import Catalogue
from router_ext.errors import router_error
from router_ext.request_facts import request_facts, requested_strategy
from router_ext.settings import RouterSettings, SettingsError, load_settings
from router_ext.state import RoutingState, UnknownStrategyError
from strategies.decision import Decision, NoChannelError, decide
from strategies.observations import Observations
from strategies.registry import build_strategies

log = logging.getLogger("smart_router")
METADATA_KEY = "smart_router"


class SmartRouterHook(CustomLogger):
    def __init__(self, settings: RouterSettings) -> None:
        super().__init__()
        self.settings = settings
        self.virtual_models: dict[str, RouteSpec] = settings.route_specs()
        try:
            strategies = build_strategies(settings.strategies)
        except ValueError as error:
            raise SettingsError(f"smart_router.strategies: {error}") from None
        for name, spec in self.virtual_models.items():
            if spec.strategy and spec.strategy.lower() not in strategies:
                raise SettingsError(
                    f"smart_router.virtual_models.{name}.strategy: unknown strategy {spec.strategy!r}; "
                    f"valid strategies: {', '.join(sorted(strategies))}"
                )
        try:
            self.state = RoutingState(strategies, settings.strategy)
        except UnknownStrategyError as error:
            raise SettingsError(f"smart_router.strategy: {error}") from None
        self.catalogue = Catalogue()
        self.observations = Observations(TagIndex([]))

    # -- the catalogue of the running proxy ------------------------------------------------
    def index(self) -> TagIndex:
        from litellm.proxy import (
            proxy_server,  # the Router exists only once the proxy started
        )

        router = proxy_server.llm_router
        index = self.catalogue.index_for(router.model_list if router is not None else [])
        if self.observations.index is not index:
            self.observations = self.observations.rebind(index)
        return index

    def decide(
        self, model: str, data: dict[str, Any], explain: bool = False, prompt_tokens: int | None = None
    ) -> Decision | None:
        """The decision for a virtual name, None for a concrete one; raises ProxyException."""
        try:
            spec = resolve_virtual_name(model, self.virtual_models)
        except TagQueryError as error:
            raise router_error(
                400, "invalid_tag_query", str(error), param="model", router_status="tag-query-invalid"
            ) from None
        if spec is None:
            return None
        try:
            strategy_name = self.state.validated(
                requested_strategy(data) or spec.strategy or self.state.active
            )
        except UnknownStrategyError as error:
            raise router_error(
                400, "invalid_strategy", str(error), param="strategy", router_status="strategy-invalid"
            ) from None
        facts = request_facts(data, self.settings.default_max_tokens)
        if prompt_tokens is not None:
            facts = dataclasses.replace(facts, prompt_tokens=prompt_tokens)
        index = self.index()
        try:
            return decide(
                index,
                spec,
                self.state.strategies[strategy_name],
                facts,
                index.size if explain else self.settings.max_candidates,
                self.observations,
                explain=explain,
            )
        except NoChannelError as error:
            raise router_error(
                error.status,
                error.kind,
                error.message,
                param="model",
                router_status=error.kind.replace("_", "-"),
            ) from None

    # -- LiteLLM hooks ---------------------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        model = data.get("model")
        if not isinstance(model, str):
            return data
        decision = self.decide(model, data)
        if decision is None:
            return data
        data["model"] = decision.ranked[0].id
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            metadata = data["metadata"] = {}
        metadata[METADATA_KEY] = {
            "requested_model": model,
            "strategy": decision.strategy.name,
            "candidates": [channel.id for channel in decision.ranked],
            "scores": [round(score, 6) for score in decision.scores],
            "eligible": decision.eligible,
        }
        return data

    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        deployment_id = _deployment_id(kwargs)
        if not deployment_id:
            return
        latency_ms = (end_time - start_time).total_seconds() * 1000.0
        first_token = kwargs.get("completion_start_time")
        ttft_ms = (first_token - start_time).total_seconds() * 1000.0 if first_token else None
        logged = kwargs.get("standard_logging_object") or {}
        output_tokens = int(logged.get("completion_tokens") or 0)
        self.observations.record_success(deployment_id, latency_ms, ttft_ms, output_tokens)

    async def async_log_failure_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        deployment_id = _deployment_id(kwargs)
        if deployment_id:
            self.observations.record_failure(deployment_id)

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


def _deployment_id(kwargs: dict) -> str | None:
    params = kwargs.get("litellm_params") or {}
    info = params.get("model_info") or {}
    deployment_id = info.get("id")
    return str(deployment_id) if deployment_id else None


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
