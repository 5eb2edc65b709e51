"""Scraped prices, per channel, applied to the Router's deployments.

A source answers -> its prices (converted to USD, times the channel's multiplier) become the
deployments' `model_info` prices, which both the cost signal and recorded costs read. Prices set
in the config win and are never overwritten. A source that fails, or parses to zero prices
("layout changed?"), keeps the last good prices. Every change is appended to `price_history`;
on start the newest stored price per (channel, model) is applied before any network call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from router_ext import deployment as shape
from router_ext.litellm_seam import router_registry
from router_ext.settings import PriceSettings, PriceSource
from scrapers.fetch import FetchError, fetch, fetch_json
from scrapers.price_sources import PRICE_SOURCES
from scrapers.prices import LayoutChanged, Price

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("smart_router")
PRICE_SOURCE = "price_source"  # model_info: "config" or the scraper that set the price
PRICE_AT = "price_at"  # model_info: epoch s of the price
CONFIG_PRICES = "config_prices"  # model_info: [input, output] as configured, before time windows


@dataclass
class Quote:
    price: Price
    fetched_at: float


@dataclass
class RefreshResult:
    changed: dict[str, int] = field(default_factory=dict)  # channel -> prices changed
    parsed: dict[str, int] = field(default_factory=dict)  # channel -> prices read
    errors: dict[str, str] = field(default_factory=dict)
    applied: int = 0  # deployments whose price was set

    def as_dict(self) -> dict[str, Any]:
        return {
            "parsed": self.parsed,
            "changed": self.changed,
            "applied": self.applied,
            "errors": self.errors,
        }


def model_id_of(upstream: str) -> str:
    """`openrouter/qwen/qwen3:free` -> `qwen/qwen3:free`; `openai/Qwen/Qwen2.5-7B` -> `Qwen/Qwen2.5-7B`."""
    return upstream.split("/", 1)[1] if "/" in upstream else upstream


def default_url(kind: str) -> str:
    return PRICE_SOURCES[kind].default_url


class PriceBook:
    def __init__(
        self,
        settings: PriceSettings,
        router: Callable[[], Any],
        engine: Callable[[], AsyncEngine | None],
        on_change: Callable[[], None],
        *,
        attempts: int = 3,
        timeout_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self._router = router
        self._engine = engine
        self._on_change = on_change
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.quotes: dict[str, dict[str, Quote]] = {}  # channel -> model id -> quote
        self.errors: dict[str, str] = {}
        self._lock = asyncio.Lock()

    # -- reading sources ----------------------------------------------------------------------
    async def _read(self, source: PriceSource) -> dict[str, Price]:
        kind = PRICE_SOURCES[source.kind]
        url = source.url or kind.default_url
        usd_rate = self.rate(kind.currency)
        if kind.body == "json":
            return kind.parse(
                await fetch_json(url, attempts=self.attempts, timeout_s=self.timeout_s), usd_rate
            )
        page = await fetch(url, attempts=self.attempts, timeout_s=self.timeout_s)
        return kind.parse(page.text, usd_rate)

    def rate(self, currency: str) -> float:
        rate = self.settings.currency_rates.get(currency)
        if rate is None:
            raise LayoutChanged(
                f"no exchange rate for {currency}: set smart_router.prices.currency_rates.{currency}"
            )
        return rate

    async def refresh(
        self, channel: str | None = None, progress: Callable[[str], None] | None = None
    ) -> RefreshResult:
        result = RefreshResult()
        sources = [s for s in self.settings.sources if channel is None or s.channel == channel]
        served = self._channels()
        if served is not None and channel is None:
            sources = [s for s in sources if s.channel in served]  # no key, no channel: no need to ask
        outcomes = await asyncio.gather(*(self._read_safely(s) for s in sources))
        now = time.time()
        async with self._lock:
            for source, outcome in zip(sources, outcomes, strict=True):
                if progress is not None:
                    progress(source.channel)
                if isinstance(outcome, str):
                    result.errors[source.channel] = outcome
                    self.errors[source.channel] = outcome
                    log.warning(
                        "smart-router: prices for %s not refreshed: %s; keeping the last good prices",
                        source.channel,
                        outcome,
                    )
                    continue
                self.errors.pop(source.channel, None)
                known = self.quotes.setdefault(source.channel, {})
                changed = {m: p for m, p in outcome.items() if m not in known or known[m].price != p}
                for model, price in outcome.items():
                    known[model] = Quote(price, now)
                result.parsed[source.channel] = len(outcome)
                result.changed[source.channel] = len(changed)
                await self._remember(source.channel, changed, now)
            result.applied = self.apply()
        return result

    def _channels(self) -> set[str] | None:
        router = self._router()
        if router is None:
            return None
        return {shape.channel_name(deployment) for deployment in router_registry.deployments(router)}

    async def _read_safely(self, source: PriceSource) -> dict[str, Price] | str:
        try:
            return await self._read(source)
        except (FetchError, LayoutChanged) as error:
            return str(error)
        except ValueError as error:  # a JSON body of the wrong shape
            return f"unreadable answer ({error}); layout changed?"

    # -- applying to deployments ------------------------------------------------------------
    def apply(self, now: float | None = None) -> int:
        """Set prices on the deployments: configured ones stay as configured, others get their
        channel's scraped price times its multiplier; both times the time-of-day window factor.
        Written to the Router in one batch. Returns how many deployments got a scraped price."""
        router = self._router()
        if router is None:
            return 0
        minute = _minute_of_day(time.time() if now is None else now)
        applied = 0
        changes: dict[str, dict[str, Any]] = {}
        for deployment in router_registry.deployments(router):
            info = deployment.get("model_info")
            if not isinstance(info, Mapping):
                continue
            upstream = shape.upstream_model(deployment)
            channel = shape.channel_name(deployment)
            window = self.settings.window_factor(channel, minute)
            fields: dict[str, Any] = {}
            source, configured = info.get(PRICE_SOURCE), info.get(CONFIG_PRICES)
            if source is None and (
                info.get("input_cost_per_token") is not None or info.get("output_cost_per_token") is not None
            ):
                source = fields[PRICE_SOURCE] = "config"
                configured = fields[CONFIG_PRICES] = [
                    info.get("input_cost_per_token"),
                    info.get("output_cost_per_token"),
                ]
            if source == "config":
                configured = configured or [None, None]
                fields["input_cost_per_token"] = None if configured[0] is None else configured[0] * window
                fields["output_cost_per_token"] = None if configured[1] is None else configured[1] * window
            else:
                quote = self.quotes.get(channel, {}).get(model_id_of(upstream))
                if quote is None:
                    continue
                factor = self.settings.multipliers.get(channel, 1.0) * window
                fields["input_cost_per_token"] = quote.price.input_per_token * factor
                fields["output_cost_per_token"] = quote.price.output_per_token * factor
                fields[PRICE_SOURCE] = quote.price.source
                fields[PRICE_AT] = quote.fetched_at
                applied += 1
            if any(info.get(k) != v for k, v in fields.items()):
                changes[str(shape.deployment_id(deployment))] = fields
        router_registry.update_model_info(router, changes)
        self._on_change()
        return applied

    def window_state(self, now: float) -> tuple[float, ...]:
        minute = _minute_of_day(now)
        return tuple(w.factor if w.covers(minute) else 1.0 for w in self.settings.windows)

    async def follow_windows(self, every_s: float = 20.0) -> None:
        """Re-apply prices when a time-of-day window opens or closes."""
        state = self.window_state(time.time())
        while True:
            await asyncio.sleep(every_s)
            current = self.window_state(time.time())
            if current != state:
                state = current
                self.apply()
                log.info("smart-router: a price window opened or closed; prices re-applied")

    def stale(self, info: Mapping[str, Any], now: float) -> bool:
        at = info.get(PRICE_AT)
        return isinstance(at, (int, float)) and now - at > self.settings.max_age_hours * 3600

    # -- history -------------------------------------------------------------------------------
    async def _remember(self, channel: str, changed: Mapping[str, Price], now: float) -> None:
        engine = self._engine()
        if engine is None or not changed:
            return
        from router_ext.store.record_store import (
            price_history,
        )  # loaded with the store, never on the proxy's start

        at = dt.datetime.fromtimestamp(now, tz=dt.UTC)
        rows = [
            {
                "channel": channel,
                "model_id": model,
                "input_per_token": price.input_per_token,
                "output_per_token": price.output_per_token,
                "currency": price.currency,
                "source": price.source,
                "fetched_at": at,
            }
            for model, price in changed.items()
        ]
        try:
            async with engine.begin() as conn:
                await conn.execute(price_history.insert(), rows)
        except Exception as error:  # noqa: BLE001  # prices still apply; history is best effort
            log.warning("smart-router: price history not written (%s)", type(error).__name__)

    async def restore(self) -> int:
        """The newest stored price per (channel, model), applied before any network call."""
        engine = self._engine()
        if engine is None:
            return 0
        import sqlalchemy as sa

        from router_ext.store.record_store import price_history

        h = price_history.c
        newest = (
            sa.select(h.channel, h.model_id, sa.func.max(h.id).label("id"))
            .group_by(h.channel, h.model_id)
            .subquery()
        )
        query = sa.select(price_history).join(newest, h.id == newest.c.id)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        async with self._lock:
            for row in rows:
                price = Price(row["input_per_token"], row["output_per_token"], row["source"], row["currency"])
                at = row["fetched_at"]
                at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
                known = self.quotes.setdefault(row["channel"], {})
                mine = known.get(row["model_id"])
                if mine is None or (mine.price != price and at.timestamp() > mine.fetched_at):
                    known[row["model_id"]] = Quote(price, at.timestamp())
            return self.apply() if rows else 0

    async def history(self, channel: str, model_id: str, limit: int = 50) -> list[dict[str, Any]]:
        engine = self._engine()
        if engine is None:
            return []
        import sqlalchemy as sa

        from router_ext.store.record_store import price_history

        h = price_history.c
        query = (
            sa.select(price_history)
            .where(h.channel == channel, h.model_id == model_id)
            .order_by(h.id.desc())
            .limit(limit)
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [json.loads(json.dumps(dict(row), default=str)) for row in rows]

    def table(self, channel: str | None = None) -> list[dict[str, Any]]:
        now = time.time()
        rows = []
        for name, quotes in sorted(self.quotes.items()):
            if channel is not None and name != channel:
                continue
            for model, quote in sorted(quotes.items()):
                per_million = quote.price.per_million()
                rows.append(
                    {
                        "channel": name,
                        "model": model,
                        "input_usd_per_m": per_million[0],
                        "output_usd_per_m": per_million[1],
                        "free": quote.price.free,
                        "source": quote.price.source,
                        "fetched_at": dt.datetime.fromtimestamp(quote.fetched_at, tz=dt.UTC).isoformat(),
                        "stale": now - quote.fetched_at > self.settings.max_age_hours * 3600,
                    }
                )
        return rows


def _minute_of_day(epoch: float) -> int:
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.hour * 60 + moment.minute
