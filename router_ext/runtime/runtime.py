"""`RouterRuntime`: every smart-router component of one proxy process, and their lifecycle.

Built once from the settings (no LiteLLM global is read here: the Router arrives through a
callable, so tests hand it a small fake). Then:

- start-up in stages (`ensure_started`, on the proxy's loop): breakers' probes and Redis sync at
  once; the record store, client keys and catalogue jobs after the first answer, or after a few
  seconds idle, or at once when something needs them (`start_now`);
- `reload` (POST /routing/reload, SIGHUP) applies the config file's channels;
- `shutdown` cancels every background task and closes Redis, SQL and HTTP clients.

The request path is `flow` (request_flow.py); what the admin API and metrics read are the
public methods below.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from accounting.quotas import QuotaBook
from accounting.rate_limits import LimitBook
from catalog.index import TagIndex
from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec
from router_ext import platform_support
from router_ext.catalogue.catalogue import Catalogue
from router_ext.catalogue.discovery import Discovery, wildcard_sources
from router_ext.catalogue.openrouter_keys import free_requests_per_day, openrouter_keys
from router_ext.catalogue.price_book import PriceBook
from router_ext.catalogue.reload import (
    ReloadError,
    ReloadResult,
    apply_model_list,
    read_config,
    section_changed,
)
from router_ext.catalogue.scheduler import Leader, Scheduler
from router_ext.catalogue.stored_channels import StoredChannels
from router_ext.client_keys import ClientKey, KeyRing
from router_ext.clock import utc_now
from router_ext.logs import configure as configure_logs
from router_ext.metrics import RouterMetrics
from router_ext.openrouter.preferences import Preferences
from router_ext.request_facts import request_facts
from router_ext.runtime.admin_views import AdminViews
from router_ext.runtime.channel_admin import ChannelAdmin
from router_ext.runtime.decisions import Decider
from router_ext.runtime.heap import freeze_startup_heap
from router_ext.runtime.request_flow import RequestFlow
from router_ext.runtime.rules import Rules, validate_rules
from router_ext.secret_box import box_from_env
from router_ext.settings import DEFAULT_DATABASE_URL, RouterSettings, SettingsError
from router_ext.state.channel_health import ChannelHealth
from router_ext.state.quality_feedback import QualityFeedback
from router_ext.state.rate_windows import RateWindows
from router_ext.state.routing_state import RoutingState, UnknownStrategyError
from router_ext.state.shared_spend import SharedSpend, refresh_loop
from router_ext.state.shared_state import LocalState, RedisState
from router_ext.state.spend_tracker import SpendTracker
from router_ext.store.startup_check import STORED_ENV
from router_ext.tasks import cancel_and_wait
from strategies.decision import Decision
from strategies.quality import DEFAULT_QUALITY, channel_quality
from strategies.registry import build_strategies

log = logging.getLogger("smart_router")
STARTUP_IDLE_S = 5.0  # background start-up work waits this long for a first request
RESTORE_WAIT_S = 10.0  # the first requests wait at most this long for stored listings


def _no_router() -> Any:
    return None


class RouterRuntime:
    def __init__(
        self,
        settings: RouterSettings,
        redis_url: str | None = None,
        router: Callable[[], Any] = _no_router,
        config_path: Callable[[], str | None] = lambda: None,
        database_url: str | None = None,
    ) -> None:
        """`database_url`: ROUTER_DATABASE_URL, used when the settings name none."""
        self.settings = settings
        self._router = router
        self._config_path = config_path
        self.virtual_models: dict[str, RouteSpec] = settings.route_specs()
        try:
            self.state = RoutingState(_strategies(settings, self.virtual_models), settings.strategy)
        except UnknownStrategyError as error:
            raise SettingsError(f"smart_router.strategy: {error}") from None
        self._redis_state = RedisState(redis_url) if redis_url else LocalState()
        self.health = ChannelHealth(settings.health, self.state, self._redis_state)
        url = settings.database_url or database_url or DEFAULT_DATABASE_URL
        self.spend = SpendTracker(
            settings,
            self.state,
            url if settings.records else None,
            SharedSpend(redis_url) if redis_url else None,
        )
        self.quotas = QuotaBook()
        self.limits = LimitBook()
        self.catalogue = Catalogue(router, self.health, self.quotas, self.limits, settings.limits)
        self.keys = KeyRing()
        self.keys.expected = settings.records
        self._reload_lock = asyncio.Lock()
        self.stored = StoredChannels(router, box_from_env(), self._channels_changed, self._reload_lock)
        self.stored.expected = settings.records
        jobs = settings.discovery
        self.discovery = Discovery(
            router, self._engine, self.catalogue.invalidate, attempts=jobs.attempts, timeout_s=jobs.timeout_s
        )
        self.prices = PriceBook(
            settings.prices,
            router,
            self._engine,
            self.catalogue.invalidate,
            attempts=jobs.attempts,
            timeout_s=jobs.timeout_s,
        )
        self.scheduler = Scheduler(Leader(redis_url))
        self.metrics = RouterMetrics()
        self.rules = Rules(settings.rules)
        validate_rules(settings.rules, self.virtual_models, self.state.available, None, growing=True)
        self.rate_windows = RateWindows(self.limits, self.catalogue)
        self.health.windows = self.rate_windows  # shared through Redis with the breakers
        self.feedback = QualityFeedback(
            self.catalogue.observations.learned, lambda: self.spend.store, self._quality_prior
        )
        self.health.feedback = self.feedback  # shared through Redis with the breakers
        self.decider = Decider(
            settings,
            self.virtual_models,
            self.state,
            self.catalogue,
            self.health,
            self.quotas,
            self.keys,
            self.rate_windows,
            lambda: self.spend.book.usage_ratio(utc_now())[0],
        )
        self.flow = RequestFlow(
            settings,
            self.decider,
            self.catalogue,
            self.health,
            self.spend,
            self.quotas,
            self.keys,
            self.metrics,
            self.rules,
            ready=self.until_routable,
            first_answer=self.start_now,
            rate_windows=self.rate_windows,
            feedback=self.feedback,
        )
        self.admin = AdminViews(self)
        self.channel_admin = ChannelAdmin(
            self.stored, self.health, self.catalogue.deployments, self.start_now, lambda: self.health.secrets
        )
        self.metrics.attach(self.admin)
        configure_logs(settings.log_format, lambda: self.health.secrets)
        self._restored = asyncio.Event()  # stored listings applied: discovered names route
        self._due = asyncio.Event()  # start the store and the catalogue jobs now
        self._store_tried = asyncio.Event()  # the store started (or could not), feedback restored
        self._wildcards: bool | None = None
        # `serve` counted the stored channels: the first requests wait for them to be applied.
        self._stored_at_start = int(os.environ.get(STORED_ENV) or 0) > 0 and settings.records
        self._started = False
        self._background: list[asyncio.Task[Any]] = []

    # -- what requests and admin routes read ---------------------------------------------------
    def index(self) -> TagIndex:
        return self.catalogue.index()

    def explain(
        self,
        model: str,
        data: Mapping[str, Any],
        prompt_tokens: int | None = None,
        endpoint: str = "chat",
        openrouter: Preferences | None = None,
    ) -> tuple[Decision | None, str | None, dict[str, Any] | None]:
        """Explain's decision (every candidate ranked, none cut) after the rules, as a request
        meets them, the name of the rule that matched, and what OpenRouter's fields did (when
        `openrouter` is given: the `/api/v1` path's routing)."""
        facts = request_facts(data, self.settings.default_max_tokens, endpoint)
        if prompt_tokens is not None:
            facts = dataclasses.replace(facts, prompt_tokens=prompt_tokens)
        rule = self.rules.first_match(model, facts, data, None)
        routed = (rule.settings.route if rule else None) or model
        strategy = rule.settings.strategy if rule else None
        if openrouter is not None:
            joined, summary = self.flow.openrouter.decide(
                routed, openrouter, data, facts, None, strategy, explain=True
            )
            return joined, rule.name if rule else None, summary
        decision = self.decider.decide(routed, data, explain=True, facts=facts, strategy=strategy)
        return decision, rule.name if rule else None, None

    def virtual_model_names(self) -> list[str]:
        return [*BUILTIN_VIRTUAL_MODELS, *(spec.name for spec in self.virtual_models.values())]

    def virtual_route_specs(self) -> list[RouteSpec]:
        return [*BUILTIN_VIRTUAL_MODELS.values(), *self.virtual_models.values()]

    async def find_client_key(self, raw: str) -> ClientKey | None:
        if not self.keys.loaded:
            self.start_now()  # the key table lives in the store, started after the first answer
        return await self.keys.find(raw)

    @property
    def store_url(self) -> str | None:
        return self.spend.store_url

    def store_engine(self) -> Any:
        """The store's SQLAlchemy engine once it runs, else None."""
        return self._engine()

    def _engine(self) -> Any:
        store = self.spend.store
        return store.engine if store is not None else None

    # -- start-up --------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Background tasks (recovery probes, Redis sync) need the proxy's running loop."""
        if self._started:
            return
        self._started = True
        self.health.start()
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
        self._reload_on_sighup(loop)

    def start_now(self) -> None:
        """Something needs the store or the stored listings: start them without waiting."""
        self._due.set()

    async def until_routable(self) -> None:
        """The first requests after a start wait (briefly) for the stored listings, so a
        discovered model routes at once rather than 404 until the cache fills."""
        self.ensure_started()
        if not self._restored.is_set() and self._has_wildcards():
            self.start_now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restored.wait(), timeout=RESTORE_WAIT_S)
        if self._stored_at_start:
            self.start_now()
            await self.stored.until_loaded(RESTORE_WAIT_S)

    async def _start_when_due(self) -> None:
        """The store (SQLAlchemy) and the catalogue jobs start after the first answer, or once
        the proxy has been idle a few seconds, or at once when something needs them (a client
        key, stored listings, an admin query): ~2 s of imports and loading that would otherwise
        compete with the first request for the one interpreter lock."""
        indexed = False
        for _ in range(round(STARTUP_IDLE_S / 0.25)):  # loop turns, not a deadline: LiteLLM's
            if not indexed and self.catalogue.deployments():
                # Indexing sets per-deployment facts LiteLLM reads on paths that bypass our
                # hook (count_tokens): do it once the Router exists, not at the first request.
                self.catalogue.index()
                indexed = True
            if self._due.is_set():  # start-up holds the loop for seconds at a time
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), timeout=0.25)
        await self._start_store()
        await self._start_catalogue_jobs()
        if self.settings.freeze_heap:
            freeze_startup_heap()  # everything start-up loads is in memory by now

    def _quality_prior(self, channel_id: str) -> float:
        channel = self.catalogue.channel(channel_id)
        return channel_quality(channel) if channel is not None else DEFAULT_QUALITY

    async def _restore_feedback(self) -> None:
        """The learned quality from the store's scores; with Redis, into the shared totals once."""
        store = self.spend.store
        if store is None:
            return
        totals = await store.feedback_totals()
        if self._redis_state.shared:
            flat = {
                f"{kind}|{channel}|{side}": amount
                for kind, channel, good, bad in totals
                for side, amount in (("good", good), ("bad", bad))
            }
            await self._redis_state.seed_feedback(flat)
            return  # the next sync reads everyone's totals
        if totals:
            self.feedback.learned.replace(totals)

    async def _start_store(self) -> None:
        try:
            await self.spend.start()
            await self._restore_feedback()
            engine = self._engine()
            if engine is not None:
                # SQL: loaded with the store, off the proxy's start
                key_table = importlib.import_module("router_ext.store.key_table")
                self.keys.attach(key_table.KeyTable(engine))
                channel_table = importlib.import_module("router_ext.store.channel_table")
                await self.stored.attach(channel_table.ChannelTable(engine))
        except Exception:  # no database must never stop routing
            self.keys.expected = False
            self.stored.expected = False
            log.exception(
                "smart-router: the record store could not start; requests are served without records"
            )
        finally:
            self._store_tried.set()

    async def until_store(self, timeout_s: float = 30.0) -> None:
        """Start the store now and wait until it runs (or failed to start)."""
        self.ensure_started()
        self.start_now()
        await asyncio.wait_for(self._store_tried.wait(), timeout=timeout_s)

    def _has_wildcards(self) -> bool:
        """Only wildcard channels have stored listings worth waiting for at start."""
        if self._wildcards is None:
            self._wildcards = bool(wildcard_sources(self.catalogue.deployments()))
        return self._wildcards

    async def _start_catalogue_jobs(self) -> None:
        """Stored listings and prices first (routing works at once after a restart), then a
        fresh listing in the background, then the schedule."""
        discovery_on, priced = self.settings.discovery.enabled, bool(self.settings.prices.sources)
        # Named before anything is awaited, so /routing/jobs lists every configured job from the start.
        if discovery_on:
            self.scheduler.declare("discovery")
        if priced:
            self.scheduler.declare("prices")
        for _ in range(300):  # the Router is built after our callback is loaded
            if self._router() is not None:
                break
            await asyncio.sleep(0.1)
        # With nothing stored (a first start), the first requests wait for the first listing too:
        # a discovered model must not 404 because the request came before the listing finished.
        first_listing = discovery_on and self.settings.discovery.on_start
        try:
            restored = await self.discovery.restore() if discovery_on else None
            first_listing = first_listing and restored is not None and not restored.added
            await self.prices.restore()
        except Exception:  # a store problem must not stop routing
            log.exception("smart-router: stored listings / prices could not be restored")
        finally:
            if not first_listing:
                self._restored.set()
        schedule = self.settings.schedule
        if discovery_on:
            self.scheduler.add("discovery", schedule.discovery, self.discover, self.discovery.restore)
        if priced:
            self.scheduler.add("prices", schedule.prices, self.refresh_prices, self.prices.restore)
        if self.settings.prices.windows:
            self._background.append(asyncio.get_running_loop().create_task(self.prices.follow_windows()))
        if self.settings.discovery.on_start:
            try:
                if discovery_on:
                    await self.scheduler.run("discovery", self.discover)
            finally:
                self._restored.set()
            if priced:
                await self.scheduler.run("prices", self.refresh_prices)
        self._restored.set()
        if openrouter_keys(self.catalogue.deployments()):
            self.catalogue.free_per_day = await free_requests_per_day(
                self.catalogue.deployments(), self.settings.discovery.timeout_s
            )
            self.catalogue.refresh_caps()

    # -- catalogue jobs --------------------------------------------------------------------------
    async def discover(self) -> Any:
        result = await self.discovery.discover()
        self.prices.apply()  # newly discovered deployments get their channel's known prices
        return result

    async def refresh_prices(self, channel: str | None = None) -> Any:
        return await self.prices.refresh(channel)

    async def reload(self) -> ReloadResult:
        """Apply the config file's model_list now (POST /routing/reload, SIGHUP)."""
        path = self._config_path()
        if not path:
            raise ReloadError("the proxy was started without a config file: nothing to reload")
        document, skipped = read_config(path)
        result = ReloadResult(skipped=skipped)
        try:
            result.restart_needed = section_changed(self.settings, document)
        except SettingsError as error:
            raise ReloadError(f"{error}; nothing was changed") from None
        router = self._router()
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

    async def _channels_changed(self, wildcards_added: bool) -> None:
        """Stored channels were applied to the Router (router_ext/catalogue/stored_channels.py)."""
        self.discovery.sources = {}
        self.catalogue.invalidate()
        self.prices.apply()
        if wildcards_added and self.settings.discovery.enabled:
            await self.scheduler.run("discovery", self.discover)

    def _reload_on_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        reload_signal = platform_support.reload_signal()
        if reload_signal is None:
            log.info("smart-router: no SIGHUP on this platform: %s", platform_support.RELOAD_HINT)
            return

        async def reload_logged() -> None:
            try:
                await self.reload()
            except ReloadError as error:
                log.error("smart-router: SIGHUP reload refused: %s", error)

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(
                reload_signal, lambda: self._background.append(loop.create_task(reload_logged()))
            )

    # -- shutdown --------------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """Stop every background task, write what is buffered, close every client. Safe to
        call twice."""
        tasks, self._background = self._background, []
        cancelled = await cancel_and_wait(tasks)
        await self.scheduler.stop()
        await self.health.stop()
        await self.keys.stop()
        await self.stored.stop()
        await self.spend.close()
        await self._redis_state.close()
        log.info("smart-router: stopped (%d background task(s) cancelled)", cancelled)


def _strategies(settings: RouterSettings, virtual_models: Mapping[str, RouteSpec]) -> Any:
    try:
        strategies = build_strategies(settings.strategies)
    except ValueError as error:
        raise SettingsError(f"smart_router.strategies: {error}") from None
    for name, spec in virtual_models.items():
        if spec.strategy and spec.strategy.lower() not in strategies:
            raise SettingsError(
                f"smart_router.virtual_models.{name}.strategy: unknown strategy {spec.strategy!r}; "
                f"valid strategies: {', '.join(sorted(strategies))}"
            )
    return strategies
