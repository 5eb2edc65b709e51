"""What the admin API, the dashboard and the metrics read and change, as plain values.

Routes translate HTTP to these calls and back; nothing under `admin/` reaches into a component.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import math
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from accounting.quotas import QuotaBook
from catalog.index import TagIndex
from router_ext import deployment as shape
from router_ext.catalogue.catalogue import Catalogue
from router_ext.catalogue.channel_specs import STORED
from router_ext.catalogue.discovery import DISCOVERED, Discovery
from router_ext.catalogue.price_book import PRICE_AT, PRICE_SOURCE, PriceBook
from router_ext.catalogue.scheduler import Scheduler
from router_ext.catalogue.stored_channels import StoredChannels
from router_ext.client_keys import ClientKey, KeyRequestError, KeyRing
from router_ext.clock import utc_now
from router_ext.errors import router_error
from router_ext.metrics import RouterMetrics
from router_ext.settings import RouterSettings
from router_ext.state.channel_health import ChannelHealth
from router_ext.state.rate_windows import RateWindows
from router_ext.state.routing_state import RoutingState, UnknownStrategyError
from router_ext.state.spend_tracker import SpendTracker, subject_of_token

if TYPE_CHECKING:
    from router_ext.store.key_table import KeyTable
    from router_ext.store.record_store import RecordStore

T = TypeVar("T")
STORE_WAIT_S = 10.0  # an admin read right after a start waits this long for the store


class RuntimeParts(Protocol):
    """What the admin surface reads of the runtime (RouterRuntime has it all)."""

    settings: RouterSettings
    state: RoutingState
    catalogue: Catalogue
    health: ChannelHealth
    spend: SpendTracker
    quotas: QuotaBook
    keys: KeyRing
    stored: StoredChannels
    rate_windows: RateWindows
    discovery: Discovery
    prices: PriceBook
    scheduler: Scheduler
    metrics: RouterMetrics

    @property
    def store_url(self) -> str | None: ...

    def index(self) -> TagIndex: ...

    def start_now(self) -> None: ...

    def store_engine(self) -> Any: ...

    async def discover(self) -> Any: ...

    async def refresh_prices(self, channel: str | None = None) -> Any: ...


PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}


class AdminViews:
    """The runtime's admin surface (`runtime.admin`), over the runtime's components."""

    def __init__(self, parts: RuntimeParts) -> None:
        self._runtime = parts

    # -- strategy --------------------------------------------------------------------------------
    def strategy(self) -> dict[str, Any]:
        state = self._runtime.state
        return {"strategy": state.active, "available": state.available, "reason": state.reason}

    def set_strategy(self, name: str) -> dict[str, Any]:
        try:
            self._runtime.state.set_active(name)
        except UnknownStrategyError as error:
            raise router_error(400, "invalid_strategy", str(error), param="strategy") from None
        return self.strategy()

    # -- channels --------------------------------------------------------------------------------
    def channels(self) -> list[dict[str, Any]]:
        runtime = self._runtime
        index = runtime.index()
        now = time.time()
        observations = runtime.catalogue.observations
        rates, latency, outcomes = observations.success_rate(), observations.latency_ms, observations.outcomes
        today = utc_now()
        deployments = shape.ids(runtime.catalogue.deployments())
        infos = {found: shape.info(d) for found, d in deployments.items()}
        statuses = []
        for p, c in enumerate(index.channels):
            left = runtime.quotas.remaining(c.id, today)
            info = infos.get(c.id, {})
            price_at = info.get(PRICE_AT)
            statuses.append(
                {
                    "id": c.id,
                    "model_name": c.model_name,
                    "upstream_model": c.upstream_model,
                    "channel": c.channel,
                    "provider": c.provider,
                    "local": c.local,
                    "free": c.is_free,
                    "input_cost_per_token": c.input_cost_per_token,
                    "output_cost_per_token": c.output_cost_per_token,
                    "success_rate": round(float(rates[p]), 4),
                    "observations": int(outcomes[p]),
                    "quota_requests_left": left["requests"],
                    "quota_tokens_left": left["tokens"],
                    "latency_ms": None if math.isnan(latency[p]) else round(float(latency[p]), 1),
                    "price_source": info.get(PRICE_SOURCE) or ("map" if c.price_verified else None),
                    "price_at": dt.datetime.fromtimestamp(price_at, tz=dt.UTC).isoformat()
                    if isinstance(price_at, (int, float))
                    else None,
                    "price_stale": runtime.prices.stale(info, now),
                    "discovered_from": info.get(DISCOVERED),
                    "source": runtime.stored.source_of(deployments[c.id])
                    if c.id in deployments
                    else "config",
                    "stored_channel": info.get(STORED),
                    "rate_limits": runtime.rate_windows.describe(c.id),
                    **runtime.health.describe(c.id, now),
                }
            )
        return statuses

    def channel(self, channel_id: str) -> dict[str, Any]:
        return next(c for c in self.channels() if c["id"] == self._known(channel_id))

    def enable_channel(self, channel_id: str) -> dict[str, Any]:
        self._runtime.health.enable(self._known(channel_id), time.time())
        return self.channel(channel_id)

    def disable_channel(self, channel_id: str) -> dict[str, Any]:
        self._runtime.health.disable(self._known(channel_id), time.time())
        return self.channel(channel_id)

    def reset_channel(self, channel_id: str) -> dict[str, Any]:
        self._runtime.health.reset(self._known(channel_id), time.time())
        return self.channel(channel_id)

    def _known(self, channel_id: str) -> str:
        if channel_id not in self._runtime.index().position_by_id:
            raise router_error(
                404,
                "channel_not_found",
                f"no channel with id {channel_id!r}; see GET /routing/channels",
                param="channel_id",
            )
        return channel_id

    def tags(self) -> dict[str, Any]:
        index = self._runtime.index()
        return {
            "channels": index.size,
            "tags": [{"tag": t, "channels": n} for t, n in index.tag_counts().items()],
        }

    # -- records, stats, spend -------------------------------------------------------------------
    async def records(self, limit: int, session: str | None, before: int | None) -> dict[str, Any]:
        store = await self._store()
        rows = await _reading(store.records(limit, session, before))
        for row in rows:
            row["created_at"] = row["created_at"].isoformat() if row.get("created_at") else None
            row["ticket"] = _parsed(row.get("ticket"))
        return {
            "records": rows,
            "next_before_id": rows[-1]["id"] if len(rows) == limit else None,
            "buffered": store.pending,
            "dropped": store.dropped,
        }

    async def stats(self, period: str) -> dict[str, Any]:
        days = PERIOD_DAYS.get(period)
        if days is None:
            raise router_error(
                400, "invalid_parameter", f"period must be day, week or month, not {period!r}", param="period"
            )
        since = utc_now() - dt.timedelta(days=days)
        strong_from = self._runtime.settings.difficulty.floors["complex"]
        result = await _reading((await self._store()).stats(since, strong_from))
        return {
            "period": period,
            "since": since.isoformat(),
            **result,
            "top_models": result["by_model"][:5],
            "top_channels": result["by_channel"][:5],
        }

    async def charts(self, days: int) -> dict[str, Any]:
        await self._store()
        charts = importlib.import_module("router_ext.store.charts")
        return await _reading(charts.chart_data(self._runtime.store_engine(), days, utc_now().date()))

    def spend(self) -> dict[str, Any]:
        spent, budgets = self.global_spend(), self.global_budgets()
        return {
            period: {"spent_usd": spent[period], "budget_usd": budgets.get(period)}
            for period in ("day", "month")
        } | {
            "budgets": {
                f"{limit.scope}:{limit.period}": limit.usd for limit in self._runtime.spend.book.limits
            }
        }

    async def _store(self) -> RecordStore:
        """The running store; right after a start, wait for it (it starts after the first answer)."""
        runtime = self._runtime
        if runtime.store_url is None:
            raise router_error(
                503, "store_unavailable", "request records are off (smart_router.records: false)"
            )
        await self._store_started()
        store = runtime.spend.store
        if store is None or store.engine is None:
            raise router_error(
                503,
                "store_unavailable",
                f"the record store did not start within {STORE_WAIT_S:.0f} s: its database is unreachable "
                "(see the proxy log); records are kept in memory meanwhile",
            )
        return store

    async def _store_started(self) -> None:
        runtime = self._runtime
        if runtime.spend.store is None or runtime.spend.store.engine is None:
            runtime.start_now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.spend.restored.wait(), timeout=STORE_WAIT_S)

    # -- client keys -----------------------------------------------------------------------------
    async def keys(self) -> list[dict[str, Any]]:
        return [self._described(k) for k in await _guarded((await self._key_table()).all())]

    async def create_key(
        self, name: str, budget_day_usd: float | None, budget_month_usd: float | None, models: list[str]
    ) -> dict[str, Any]:
        try:
            key, raw = await _guarded(
                (await self._key_table()).create(name, budget_day_usd, budget_month_usd, models)
            )
        except KeyRequestError as error:
            raise router_error(400, "invalid_key_request", str(error)) from None
        self._runtime.keys.put(key)
        return {**self._described(key), "key": raw, "note": "store this key now: it is not shown again"}

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        key = await _guarded((await self._key_table()).revoke(key_id))
        if key is None:
            raise router_error(
                404,
                "key_not_found",
                f"no client key with id {key_id!r}; see GET /routing/keys",
                param="key_id",
            )
        self._runtime.keys.put(key)
        return self._described(key)

    async def _key_table(self) -> KeyTable:
        if self._runtime.store_url is not None:
            await self._store_started()
        engine = self._runtime.store_engine()
        if engine is None:
            raise router_error(
                503,
                "store_unavailable",
                "client keys live in the record store, which is off (smart_router.records: false) "
                "or could not reach its database (see the proxy log)",
            )
        return importlib.import_module("router_ext.store.key_table").KeyTable(engine)

    def _described(self, key: ClientKey) -> dict[str, Any]:
        subject, now, book = subject_of_token(key.key_hash), utc_now(), self._runtime.spend.book
        return {
            **key.public(),
            "spent_today_usd": round(book.spent("key", subject, "day", now), 10),
            "spent_month_usd": round(book.spent("key", subject, "month", now), 10),
        }

    # -- catalogue jobs --------------------------------------------------------------------------
    async def discover(self) -> dict[str, Any]:
        runtime = self._runtime
        if not runtime.settings.discovery.enabled:
            raise router_error(409, "discovery_disabled", "discovery is off: smart_router.discovery.enabled")
        result = await runtime.scheduler.run("discovery", runtime.discover)
        return {**result.as_dict(), "sources": self.discovery_state()}

    def discovery_state(self) -> dict[str, Any]:
        return self._runtime.discovery.describe()

    async def refresh_prices(self, channel: str | None) -> dict[str, Any]:
        known = {s.channel for s in self._runtime.settings.prices.sources}
        if not known:
            raise router_error(
                409, "no_price_sources", "no price source is configured: smart_router.prices.sources"
            )
        if channel is not None and channel not in known:
            raise router_error(
                404,
                "channel_not_found",
                f"no price source for channel {channel!r}; known: {', '.join(sorted(known))}",
                param="channel",
            )
        result = await self._runtime.refresh_prices(channel)
        return result.as_dict()

    def prices(self, channel: str | None) -> dict[str, Any]:
        prices = self._runtime.prices
        return {"prices": prices.table(channel), "errors": prices.errors}

    async def price_history(self, channel: str, model: str) -> list[dict[str, Any]]:
        return await self._runtime.prices.history(channel, model)

    def jobs(self) -> dict[str, Any]:
        return self._runtime.scheduler.describe()

    def replica(self) -> str:
        return self._runtime.scheduler.leader.identity

    def metrics_text(self) -> bytes:
        return self._runtime.metrics.render()

    # -- what a metrics scrape reads (router_ext.metrics.MetricSource) ---------------------------
    def breaker_states(self) -> Iterable[tuple[str, str]]:
        runtime, now = self._runtime, time.time()
        for channel in runtime.index().channels:
            yield channel.id, str(runtime.health.describe(channel.id, now)["state"])

    def global_spend(self) -> Mapping[str, float]:
        book, today = self._runtime.spend.book, utc_now()
        return {period: book.spent("global", "*", period, today) for period in ("day", "month")}

    def global_budgets(self) -> Mapping[str, float]:
        return {
            limit.period: limit.usd for limit in self._runtime.spend.book.limits if limit.scope == "global"
        }

    def price_source_state(self) -> Mapping[str, tuple[int, bool]]:
        prices = self._runtime.prices
        return {
            s.channel: (len(prices.quotes.get(s.channel, {})), s.channel in prices.errors)
            for s in self._runtime.settings.prices.sources
        }


def _parsed(ticket: Any) -> dict[str, Any] | None:
    """A record's routing ticket (JSON text in the store), as an object; None when it has none."""
    if not isinstance(ticket, str) or not ticket:
        return None
    try:
        parsed = json.loads(ticket)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def _reading(query: Awaitable[T]) -> T:
    """A read while the database is down is a 503 that says so, not a 500."""
    try:
        return await query
    except Exception as error:  # noqa: BLE001  # driver errors vary by database
        raise router_error(
            503,
            "store_unavailable",
            f"the record database is unreachable ({type(error).__name__}); "
            "records are buffered and written when it returns",
        ) from None


async def _guarded(action: Awaitable[T]) -> T:
    try:
        return await action
    except KeyRequestError:
        raise
    except Exception as error:  # noqa: BLE001  # driver errors vary by database
        raise router_error(
            503, "store_unavailable", f"the key store is unreachable ({type(error).__name__}); try again"
        ) from None
