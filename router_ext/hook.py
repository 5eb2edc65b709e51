"""The seam between LiteLLM and smart-router. How one request flows:

1. `async_pre_call_hook` (proxy, before anything is routed): a virtual name (`tag:...`,
   `auto`, `auto:*`, a configured virtual model) is resolved against the in-memory tag index
   into candidates; hard filters and health (open breakers, dead keys) drop some; the active
   (or requested) strategy ranks the rest; channels of one pool (same model, other keys) are
   rotated. `data["model"]` becomes the deployment id of the best candidate, and the next
   ones become this request's LiteLLM `fallbacks`, so the Router makes one concrete call at a
   time and never filters a large group. Rewriting here also keeps LiteLLM from splitting
   `tag:a,b` into a batch call. The ranking goes into `data["metadata"]["smart_router"]`.
2. LiteLLM's Router calls that deployment; on a failure before the first byte (streams too)
   it walks the fallbacks. `async_post_call_failure_deployment_hook` sees every failed
   attempt: we classify it and feed the breakers.
3. Success: `async_log_success_event` records latency / tokens per second / success.
   Failure of every attempt: `async_post_call_failure_hook` turns it into a 503
   `all_channels_failed` with the per-channel reasons (unless it was the caller's fault).
4. `async_post_call_response_headers_hook` adds the `x-router-*` headers, naming the
   deployment that actually answered (from LiteLLM's call info, not from our guess).

A plain model name passes through untouched (health still filters its group); its response
still carries the headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
import uuid
from typing import Any

import numpy as np
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from accounting.cost import Usage, price_cost
from accounting.quotas import Quota, QuotaBook, next_reset
from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.query import TagQueryError
from catalog.virtual import RouteSpec, resolve_virtual_name
from health.classify import ErrorKind
from router_ext import IMPORT_STARTED
from router_ext.catalogue.catalogue import Catalogue
from router_ext.catalogue.discovery import Discovery, wildcard_sources
from router_ext.catalogue.price_book import PriceBook
from router_ext.catalogue.reload import (
    ReloadError,
    ReloadResult,
    apply_model_list,
    read_config,
    section_changed,
    source_config_path,
)
from router_ext.catalogue.scheduler import Leader, Scheduler
from router_ext.client_auth import KEY_ID_FIELD
from router_ext.client_keys import ClientKey, KeyRing
from router_ext.errors import router_error
from router_ext.litellm_kwargs import (
    METADATA_KEY,
    deployment_id_of,
    record_base,
    routing_record,
    to_float,
    usage_of,
)
from router_ext.logs import configure as configure_logs
from router_ext.logs import log_request
from router_ext.metrics import RouterMetrics
from router_ext.request_facts import request_facts, requested_strategy
from router_ext.settings import DEFAULT_DATABASE_URL, RouterSettings, SettingsError, settings_of
from router_ext.state.channel_health import ChannelHealth
from router_ext.state.routing_state import RoutingState, UnknownStrategyError
from router_ext.state.shared_spend import SharedSpend, refresh_loop
from router_ext.state.shared_state import LocalState, RedisState
from router_ext.state.spend_tracker import SpendTracker, key_hash_of, session_of, utc_now
from strategies.base import RequestFacts
from strategies.decision import Decision, NoChannelError, decide
from strategies.filters import HardFilter
from strategies.observations import Observations
from strategies.registry import build_strategies
from strategies.rotation import rotate_pools

log = logging.getLogger("smart_router")
STARTUP_IDLE_S = 5.0  # background start-up work waits this long for a first request


class AllChannelsFailed(HTTPException):
    """Every candidate failed: LiteLLM renders an HTTPException returned by the failure hook."""

    type = "all_channels_failed"
    param = None


class SmartRouterHook(CustomLogger):
    def __init__(self, settings: RouterSettings, redis_url: str | None = None) -> None:
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
        shared = RedisState(redis_url) if redis_url else LocalState()
        self.health = ChannelHealth(settings.health, self.state, shared)
        url = settings.database_url or os.environ.get("ROUTER_DATABASE_URL") or DEFAULT_DATABASE_URL
        self.spend = SpendTracker(
            settings,
            self.state,
            url if settings.records else None,
            SharedSpend(redis_url) if redis_url else None,
        )
        self._spend_started = False
        self.catalogue = Catalogue()
        self.observations = Observations(TagIndex([]))
        self.quotas = QuotaBook()
        self.keys = KeyRing()
        self.keys.expected = settings.records
        self.discovery = Discovery(
            _llm_router,
            self._engine,
            self.catalogue.invalidate,
            settings.discovery.timeout_s,
            settings.discovery.attempts,
        )
        self.prices = PriceBook(
            settings.prices,
            _llm_router,
            self._engine,
            self.catalogue.invalidate,
            settings.discovery.attempts,
            settings.discovery.timeout_s,
        )
        self.scheduler = Scheduler(Leader(redis_url))
        self._restored = asyncio.Event()  # stored listings applied: discovered names route
        self._due = asyncio.Event()  # start the store and the catalogue jobs now
        self._reload_lock = asyncio.Lock()
        self._wildcards: bool | None = None
        self._background: list[asyncio.Task[None]] = []
        self.metrics = RouterMetrics()
        self.metrics.attach(self)
        configure_logs(settings.log_format, lambda: self.health.secrets)
        self._generation = -1

    # -- the catalogue of the running proxy ------------------------------------------------
    def index(self) -> TagIndex:
        from litellm.proxy import proxy_server  # the Router exists only once the proxy started

        router = proxy_server.llm_router
        index = self.catalogue.index_for(router.model_list if router is not None else [])
        if self.catalogue.generation != self._generation:
            self._generation = self.catalogue.generation
            self.observations = self.observations.rebind(index)
            self.health.learn_endpoints(index, self.catalogue.endpoints)
            self.quotas.set_quotas(
                {c.id: Quota(c.daily_request_quota, c.daily_token_quota) for c in index.channels}
            )
        return index

    def ensure_started(self) -> None:
        """Background tasks (recovery probes, Redis sync) need the proxy's running loop."""
        if not self.health._tasks:
            self.health.start()
        if not self._spend_started:
            self._spend_started = True
            loop = asyncio.get_running_loop()
            self._background.append(loop.create_task(self._start_when_due()))
            if self.settings.budgets.limits():
                # Budgets count this month's spend from the store: restore it before serving,
                # or a restart would forget what was spent.
                self.start_now()
            if self.spend.shared is not None:
                interval = self.settings.health.sync_interval_s
                self._background.append(
                    loop.create_task(refresh_loop(self.spend.shared, self.spend.apply_shared, interval))
                )
            self._reload_on_sighup()

    def start_now(self) -> None:
        """Something needs the store or the stored listings: start them without waiting."""
        self._due.set()

    async def _start_when_due(self) -> None:
        """The store (SQLAlchemy) and the catalogue jobs start after the first
        answer, or once the proxy has been idle a few seconds, or at once when something needs
        them (a client key, stored listings, an admin query): ~2 s of imports and loading that
        would otherwise compete with the first request for the one interpreter lock."""
        for _ in range(round(STARTUP_IDLE_S / 0.25)):  # loop turns, not a deadline: LiteLLM's
            if self._due.is_set():  # start-up holds the loop for seconds at a time
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), timeout=0.25)
        await self._start_spend()

    async def _start_spend(self) -> None:
        try:
            await self.spend.start()
            store = self.spend.store
            if store is not None and store.engine is not None:
                from router_ext.store.key_table import KeyTable  # SQL: loaded with the store, off the start

                self.keys.attach(KeyTable(store.engine))
        except Exception:  # no database must never stop routing
            self.keys.expected = False
            log.exception(
                "smart-router: the record store could not start; requests are served without records"
            )
        await self._start_catalogue_jobs()

    def _has_wildcards(self) -> bool:
        """Only wildcard channels have stored listings worth waiting for at start."""
        if self._wildcards is None:
            router = _llm_router()
            self._wildcards = bool(router is not None and wildcard_sources(router.model_list))
        return self._wildcards

    def _engine(self) -> Any:
        store = self.spend.store
        return store.engine if store is not None else None

    async def _start_catalogue_jobs(self) -> None:
        """Stored listings and prices first (routing works at once after a restart), then a
        fresh listing in the background, then the schedule."""
        # Named before anything is awaited, so /routing/jobs lists every configured job from the start.
        if self.settings.discovery.enabled:
            self.scheduler.declare("discovery")
        if self.settings.prices.sources:
            self.scheduler.declare("prices")
        for _ in range(300):  # the Router is built after our callback is loaded
            if _llm_router() is not None:
                break
            await asyncio.sleep(0.1)
        discovery_on = self.settings.discovery.enabled
        try:
            if discovery_on:
                await self.discovery.restore()
            await self.prices.restore()
        except Exception:  # a store problem must not stop routing
            log.exception("smart-router: stored listings / prices could not be restored")
        finally:
            self._restored.set()
        schedule = self.settings.schedule
        if discovery_on:
            self.scheduler.add("discovery", schedule.discovery, self.discover, self.discovery.restore)
        if self.settings.prices.sources:
            self.scheduler.add("prices", schedule.prices, self.refresh_prices, self.prices.restore)
        if self.settings.prices.windows:
            self._background.append(asyncio.get_running_loop().create_task(self.prices.follow_windows()))
        if self.settings.discovery.on_start:
            if discovery_on:
                await self.scheduler.run("discovery", self.discover)
            if self.settings.prices.sources:
                await self.scheduler.run("prices", self.refresh_prices)

    async def discover(self) -> Any:
        result = await self.discovery.discover()
        self.prices.apply()  # newly discovered deployments get their channel's known prices
        return result

    async def refresh_prices(self) -> Any:
        return await self.prices.refresh()

    async def reload(self) -> ReloadResult:
        """Apply the config file's model_list now (POST /routing/reload, SIGHUP)."""
        path = source_config_path()
        if not path:
            raise ReloadError("the proxy was started without a config file: nothing to reload")
        document, skipped = read_config(path)
        result = ReloadResult(skipped=skipped)
        try:
            result.restart_needed = section_changed(self.settings, document)
        except SettingsError as error:
            raise ReloadError(f"{error}; nothing was changed") from None
        router = _llm_router()
        if router is None:
            raise ReloadError("the proxy is still starting; try again in a moment")
        async with self._reload_lock:
            apply_model_list(router, list(document.get("model_list") or []), result)
            self.discovery.sources = {}  # wildcards may have come or gone
            self.catalogue.invalidate()
            self.prices.apply()
        log.warning(
            "smart-router: config reloaded: %d channel(s) added, %d removed, %d changed%s",
            len(result.added),
            len(result.removed),
            len(result.changed),
            f"; restart to apply smart_router.{', '.join(result.restart_needed)}"
            if result.restart_needed
            else "",
        )
        if self.settings.discovery.enabled and (result.added or result.changed):
            await self.scheduler.run("discovery", self.discover)
        return result

    def _reload_on_sighup(self) -> None:
        async def reload_logged() -> None:
            try:
                await self.reload()
            except ReloadError as error:
                log.error("smart-router: SIGHUP reload refused: %s", error)

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload_logged()))

    def decide(
        self,
        model: str,
        data: dict[str, Any],
        explain: bool = False,
        prompt_tokens: int | None = None,
        facts: RequestFacts | None = None,
        client_key: ClientKey | None = None,
    ) -> Decision | None:
        """The decision for a virtual name, None for a concrete one; raises ProxyException."""
        try:
            spec = resolve_virtual_name(model, self.virtual_models)
        except TagQueryError as error:
            raise router_error(
                400, "invalid_tag_query", str(error), param="model", router_status="tag-query-invalid"
            ) from None
        access = self._access_filter(client_key, model, spec is None)
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
        if facts is None:
            facts = request_facts(data, self.settings.default_max_tokens)
        if prompt_tokens is not None:
            facts = dataclasses.replace(facts, prompt_tokens=prompt_tokens)
        index = self.index()
        exclusions = [f for f in (self.health.exclusions(index, time.time()), self._quota_filter(index)) if f]
        try:
            return decide(
                index,
                spec,
                self.state.strategies[strategy_name],
                facts,
                index.size if explain else self.settings.max_candidates,
                self.observations,
                extra_exclusions=exclusions,
                explain=explain,
                access=access,
            )
        except NoChannelError as error:
            raise _no_channel(error) from None

    def _access_filter(self, key: ClientKey | None, model: str, concrete: bool) -> HardFilter | None:
        """What a client key may use: a name on its list as is; a virtual name narrowed to
        the channels its list allows; any other concrete name refused (403)."""
        if key is None or key.models.unrestricted or key.models.names_model(model):
            return None
        index = self.index()
        allowed = self.keys.allowed_mask(key, index, self.catalogue.generation)
        listing = ", ".join(key.models.entries)
        reason = f"API key {key.name!r} may use only: {listing}"
        if concrete:
            if any(allowed[p] for p, c in enumerate(index.channels) if c.model_name == model):
                return None
            raise router_error(
                403,
                "model_not_allowed",
                f"model {model!r} is not allowed: {reason}",
                param="model",
                router_status="model-not-allowed",
            )
        return HardFilter("access", ~allowed, reason)

    # -- LiteLLM hooks ---------------------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        self.ensure_started()
        if not self._restored.is_set() and self._has_wildcards():
            self.start_now()
            # The first requests after a start wait (briefly) for the stored listings, so a
            # discovered model routes at once rather than 404 until the cache fills.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restored.wait(), timeout=10.0)
        model = data.get("model")
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            metadata = data["metadata"] = {}
        key = key_hash_of(user_api_key_dict)
        client_key = self._client_key(user_api_key_dict)
        session = session_of(data, key)
        facts = request_facts(data, self.settings.default_max_tokens)
        routed: dict[str, Any] = {
            "request_id": uuid.uuid4().hex[:16],
            "requested_model": model,
            "session": session,
            "key": key,
            "prompt_tokens": facts.prompt_tokens,
            "started_at": time.time(),
        }
        if client_key is not None:
            routed["client_key"] = client_key.name
        metadata[METADATA_KEY] = routed
        try:
            return await self._route(model, data, routed, facts, key, session, client_key)
        except ProxyException as rejection:
            routed["rejected"] = rejection.type  # refused before any upstream call
            raise

    async def _route(
        self,
        model: Any,
        data: dict,
        routed: dict[str, Any],
        facts: RequestFacts,
        key: str | None,
        session: str | None,
        client_key: ClientKey | None = None,
    ) -> dict:
        started = time.perf_counter()
        decision = (
            self.decide(model, data, facts=facts, client_key=client_key) if isinstance(model, str) else None
        )
        if decision is not None:
            self.metrics.decision_seconds.observe(time.perf_counter() - started)
        estimate = 0.0
        if decision is not None:
            now = time.time()
            ranked = rotate_pools(decision.ranked, self.health.last_used)
            attempts = ranked[: self.settings.health.max_attempts]
            data["model"] = attempts[0].id
            # Our ranked list is the failover order; the Router walks it on errors before the
            # first byte. LiteLLM's own retries of the same deployment would only delay that.
            data["fallbacks"] = [{"*": [c.id for c in attempts[1:]]}] if len(attempts) > 1 else []
            data["num_retries"] = 0
            self.health.dispatched(attempts[0].id, now)
            scores = dict(zip((c.id for c in decision.ranked), decision.scores, strict=True))
            routed.update(
                strategy=decision.strategy.name,
                candidates=[c.id for c in attempts],
                scores=[round(scores[c.id], 6) for c in attempts],
                eligible=decision.eligible,
                channel=attempts[0].channel,
            )
            estimate = price_cost(attempts[0], Usage(facts.prompt_tokens, facts.max_output_tokens)) or 0.0
        exceeded = await self.spend.check(
            key,
            session,
            estimate,
            client_key.limits if client_key else (),
            client_key.name if client_key else None,
        )
        if exceeded is not None:
            raise router_error(429, "budget_exceeded", exceeded.message, router_status="budget-exceeded")
        return data

    def _record(self, record: dict[str, Any]) -> None:
        self.metrics.requests.labels(str(record.get("deployment_id") or "-"), str(record.get("status"))).inc()
        if self.settings.log_requests:
            log_request(record)
        self.spend.record(record)

    def _client_key(self, user_api_key_dict: Any) -> ClientKey | None:
        metadata = getattr(user_api_key_dict, "metadata", None) or {}
        key_id = metadata.get(KEY_ID_FIELD) if isinstance(metadata, dict) else None
        return self.keys.by_id.get(str(key_id)) if key_id else None

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list,
        messages: Any = None,
        request_kwargs: dict | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict]:
        """Plain model names: drop deployments whose breaker is open or key is dead (if any
        deployment is left; otherwise let LiteLLM try rather than invent an error)."""
        if len(healthy_deployments) < 2 or not (self.health.book.breakers or self.health.book.disabled_keys):
            return healthy_deployments
        now = time.time()
        fingerprints = self.health.fingerprints
        allowed = [
            d
            for d in healthy_deployments
            if self.health.book.allows(
                str((d.get("model_info") or {}).get("id")),
                fingerprints.get(str((d.get("model_info") or {}).get("id"))),
                now,
            )
        ]
        return allowed or healthy_deployments

    async def async_post_call_failure_deployment_hook(
        self, request_data: Any, exception: Exception, call_type: Any, fallback_depth: int | None = None
    ) -> None:
        channel_id = str((request_data.get("model_info") or {}).get("id") or "")
        if not channel_id:
            return
        routed = routing_record(dict(request_data))
        verdict = self.health.failed(channel_id, exception, routed.get("request_id"), time.time())
        if verdict is not None:
            self._attempt_failed(channel_id, verdict.kind.value)

    async def log_success_fallback_event(
        self, original_model_group: str, kwargs: dict, original_exception: Exception
    ) -> None:
        self._fallback_happened(original_model_group, kwargs, original_exception)

    async def log_failure_fallback_event(
        self, original_model_group: str, kwargs: dict, original_exception: Exception
    ) -> None:
        self._fallback_happened(original_model_group, kwargs, original_exception)

    def _fallback_happened(self, failed_id: str, kwargs: dict, exception: Exception) -> None:
        """Some failures (a stream that breaks before its first chunk) reach no deployment
        failure hook, only the Router's fallback events; `failed` ignores a failure already
        counted for this request, so seeing one twice is harmless."""
        routed = routing_record(kwargs)
        if failed_id not in (routed.get("candidates") or []):
            return
        cause = getattr(exception, "original_exception", None) or exception
        verdict = self.health.failed(failed_id, cause, routed.get("request_id"), time.time())
        if verdict is not None:
            self._attempt_failed(failed_id, verdict.kind.value)

    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.start_now()  # the first answer is out: background start-up work may begin
        deployment_id = deployment_id_of(kwargs)
        if not deployment_id:
            return
        latency_ms = (end_time - start_time).total_seconds() * 1000.0
        first_token = kwargs.get("completion_start_time")
        ttft_ms = (first_token - start_time).total_seconds() * 1000.0 if first_token else None
        logged = kwargs.get("standard_logging_object") or {}
        output_tokens = int(logged.get("completion_tokens") or 0)
        self.observations.record_success(deployment_id, latency_ms, ttft_ms, output_tokens)
        self.quotas.count(
            deployment_id, utc_now(), requests=1, tokens=int(logged.get("total_tokens") or 0) or output_tokens
        )
        self.health.succeeded(deployment_id, time.time())
        routed = routing_record(kwargs)
        request_id = routed.get("request_id")
        if not request_id:
            return
        channel = self._channel(deployment_id)
        usage, cost = self._settle_success(kwargs, response_obj, deployment_id, routed)
        attempts = self.health.finish(request_id)
        self._record(
            {
                **record_base(routed, channel, deployment_id),
                "attempts": len(attempts.failures) + 1,
                "status": "success",
                "latency_ms": round(latency_ms, 3),
                "ttft_ms": round(ttft_ms, 3) if ttft_ms is not None else None,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": cost,
            }
        )

    def _settle_success(
        self, kwargs: dict, response_obj: Any, deployment_id: str, routed: dict[str, Any]
    ) -> tuple[Usage, float]:
        # The logging hook and the success event both settle a request: count its tokens once
        # (a stream without usage is counted with tiktoken).
        counted = routed.get("settled_usage")  # plain values: the record travels in LiteLLM's metadata
        if isinstance(counted, list):
            usage = Usage(*counted)
        else:
            usage = usage_of(
                kwargs.get("standard_logging_object") or {}, response_obj, routed, kwargs.get("messages")
            )
            routed["settled_usage"] = [usage.prompt_tokens, usage.completion_tokens, usage.counted]
        cost, newly = self.spend.settle(
            str(routed["request_id"]),
            self._channel(deployment_id),
            usage,
            to_float(kwargs.get("response_cost")),
            routed.get("key"),
            routed.get("session"),
        )
        if newly and self.spend.shared is not None:
            asyncio.get_running_loop().create_task(
                self.spend.share(routed.get("key"), routed.get("session"), cost)
            )
        return usage, cost

    async def async_logging_hook(self, kwargs: dict, result: Any, call_type: str) -> tuple[dict, Any]:
        """Runs before LiteLLM's own loggers: put our routing outcome where its spend logs (and
        UI, when it has its database) keep custom fields, `metadata.spend_logs_metadata`."""
        routed = routing_record(kwargs)
        deployment_id = deployment_id_of(kwargs)
        if not routed.get("request_id") or not deployment_id:
            return kwargs, result
        _, cost = self._settle_success(kwargs, result, deployment_id, routed)
        candidates = routed.get("candidates") or []
        outcome = {
            "request_id": routed["request_id"],
            "requested_model": routed.get("requested_model"),
            "channel": deployment_id,
            "strategy": routed.get("strategy") or "direct",
            "score": routed["scores"][candidates.index(deployment_id)]
            if deployment_id in candidates
            else None,
            "attempts": len(self.health.attempts_for(routed["request_id"]).failures) + 1,
            "cost_usd": cost,
        }
        logged = kwargs.get("standard_logging_object")
        places = [logged.get("metadata") if isinstance(logged, dict) else None]
        params = kwargs.get("litellm_params")
        if isinstance(params, dict):
            places.append(params.get("metadata"))
        for metadata in places:
            if isinstance(metadata, dict):
                extra = metadata.get("spend_logs_metadata")
                metadata["spend_logs_metadata"] = {
                    **(extra if isinstance(extra, dict) else {}),
                    METADATA_KEY: outcome,
                }
        return kwargs, result

    def _quota_filter(self, index: TagIndex) -> HardFilter | None:
        now = utc_now()
        exhausted = self.quotas.exhausted(now)
        if not exhausted:
            return None
        rejects = np.zeros(index.size, dtype=np.bool_)
        reasons, until = {}, {}
        back = next_reset(now).timestamp()
        for channel_id, why in exhausted.items():
            position = index.position_by_id.get(channel_id)
            if position is not None:
                rejects[position] = True
                reasons[position], until[position] = why, back
        return HardFilter("quota", rejects, "daily quota reached", reasons, until) if rejects.any() else None

    def _attempt_failed(self, channel_id: str, kind: str = "unknown") -> None:
        self.metrics.attempt_failures.labels(channel_id, kind).inc()
        self.observations.record_failure(channel_id)
        self.quotas.count(channel_id, utc_now(), requests=1)

    def _channel(self, deployment_id: str) -> Channel | None:
        index = self.index()
        position = index.position_by_id.get(deployment_id)
        return index.channels[position] if position is not None else None

    async def async_post_call_failure_hook(
        self,
        request_data: dict,
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> HTTPException | None:
        self.start_now()
        routed = (request_data.get("metadata") or {}).get(METADATA_KEY)
        if not routed:
            return None
        request_id = routed.get("request_id")
        if routed.get("rejected"):
            self.health.finish(request_id)
            self._record(
                {
                    **record_base(routed, None, None),
                    "attempts": 0,
                    "status": "rejected",
                    "error_class": str(routed["rejected"])[:32],
                    "latency_ms": 0.0,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "cost_usd": 0.0,
                }
            )
            return None
        candidates = routed.get("candidates") or []
        tried = len(self.health.attempts_for(request_id).failures) if request_id else 0
        if tried < len(candidates):
            # The last attempt's failure can reach no hook (a stream broken before its first
            # chunk, with no fallback left): the Router walks candidates in order, so it was this one.
            self.health.failed(candidates[tried], original_exception, request_id, time.time())
        attempts = self.health.finish(request_id)
        routed["attempts"] = len(attempts.failures) or 1
        if request_id:
            last = attempts.failures[-1] if attempts.failures else None
            channel = self._channel(last[0]) if last else None
            self._record(
                {
                    **record_base(routed, channel, last[0] if last else None),
                    "attempts": routed["attempts"],
                    "status": "failed",
                    "error_class": last[1].kind.value if last else None,
                    "latency_ms": round(
                        (time.time() - float(routed.get("started_at") or time.time())) * 1000, 3
                    ),
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "cost_usd": 0.0,
                }
            )
        if not attempts.failures or all(v.kind is ErrorKind.CALLER for _, v in attempts.failures):
            return None  # the request itself was wrong: pass the upstream's 4xx through
        now = time.time()
        reopen = [
            self.health.book.breaker(cid).reopen_at
            for cid, _ in attempts.failures
            if self.health.book.breaker(cid).reopen_at > now
        ]
        routed["failure_headers"] = {
            "x-router-status": "all-channels-failed",
            "retry-after": str(max(1, math.ceil(min(reopen) - now))) if reopen else "1",
        }
        channels = [
            {"channel": cid, "error_class": v.kind.value, "reason": v.reason, "status": str(v.status or "")}
            for cid, v in attempts.failures
        ]
        summary = "; ".join(f"{c['channel']}: {c['reason']}" for c in channels)
        return AllChannelsFailed(
            status_code=503,
            detail={
                "message": f"all {len(channels)} channel(s) tried for {routed.get('requested_model')!r} failed ({summary})",
                "channels": channels,
            },
        )

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        routed = (data.get("metadata") or {}).get(METADATA_KEY) or {}
        if response is None:
            if not routed:
                return None
            return {
                **routed.get("failure_headers", {}),
                "x-router-attempts": str(routed.get("attempts", 1)),
                "x-router-strategy": str(routed.get("strategy", "")),
            }
        served_id = str((litellm_call_info or {}).get("model_id") or "")
        if not served_id:
            return None
        request_id = routed.get("request_id")
        failures = len(self.health.attempts_for(request_id).failures) if request_id else 0
        channel = self._channel(served_id)
        headers = {
            "x-router-channel": served_id,
            "x-router-model": channel.upstream_model if channel else str(data.get("model", "")),
            "x-router-strategy": str(routed.get("strategy") or "direct"),
            "x-router-attempts": str(failures + 1),
        }
        usage = getattr(response, "usage", None)
        if request_id and usage is not None and getattr(usage, "total_tokens", None):
            # Non-streaming: the usage is here, so settle now and show the cost. A stream is
            # settled when LiteLLM reports its end (async_log_success_event).
            hidden = getattr(response, "_hidden_params", None) or {}
            cost, newly = self.spend.settle(
                request_id,
                channel,
                Usage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)),
                to_float(hidden.get("response_cost")),
                routed.get("key"),
                routed.get("session"),
            )
            if newly:  # the session total in the header counts every replica's requests
                await self.spend.share(routed.get("key"), routed.get("session"), cost)
            headers["x-router-cost-usd"] = f"{cost:.10f}".rstrip("0").rstrip(".") or "0"
            session_total = self.spend.session_total(routed.get("session"))
            headers["x-router-session-cost-usd"] = f"{session_total:.10f}".rstrip("0").rstrip(".") or "0"
        candidates = routed.get("candidates") or []
        if served_id in candidates:
            headers["x-router-score"] = f"{routed['scores'][candidates.index(served_id)]:.4f}"
        if routed.get("request_id"):
            headers["x-router-request-id"] = str(routed["request_id"])
        return headers


def _no_channel(error: NoChannelError) -> Exception:
    exception = router_error(
        error.status, error.kind, error.message, param="model", router_status=error.kind.replace("_", "-")
    )
    if error.retry_at is not None:
        exception.headers["retry-after"] = str(max(1, math.ceil(error.retry_at - time.time())))
    if error.details:
        exception.provider_specific_fields = {"channels": error.details}
    return exception


def _llm_router() -> Any:
    from litellm.proxy import proxy_server

    return proxy_server.llm_router


def _config_path() -> str | None:
    from litellm.proxy import proxy_server

    return getattr(proxy_server, "user_config_file_path", None) or os.environ.get("CONFIG_FILE_PATH")


def _build() -> SmartRouterHook:
    imported = time.perf_counter()
    import json

    from router_ext.launch_config import RENDERED_ENV, SECTIONS_ENV
    from router_ext.state.shared_state import redis_url_from
    from router_ext.yaml_io import load_yaml

    path = _config_path()
    document: dict[str, Any] = {}
    settings = RouterSettings()
    if path and path == os.environ.get(RENDERED_ENV) and os.environ.get(SECTIONS_ENV):
        document = json.loads(os.environ[SECTIONS_ENV])  # `smart-router serve` parsed it already
        settings = settings_of(document, path)
    elif path:
        with open(path, encoding="utf-8") as handle:
            document = load_yaml(handle) or {}
        settings = settings_of(document, path)
    hook = SmartRouterHook(settings, redis_url_from(document, settings.redis_url, dict(os.environ)))
    from router_ext.admin.routing import mount_routes

    mount_routes(hook)
    log.info(
        "smart-router: ready in %.0f ms (import %.0f ms, config and routes %.0f ms)",
        (time.perf_counter() - IMPORT_STARTED) * 1000,
        (imported - IMPORT_STARTED) * 1000,
        (time.perf_counter() - imported) * 1000,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return hook  # started on the first request instead
    hook.ensure_started()
    return hook


# Named in a LiteLLM config as `litellm_settings.callbacks: ["router_ext.hook.proxy_handler"]`.
proxy_handler = _build()
