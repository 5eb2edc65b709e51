"""Discovery: a wildcard deployment (`model_name: "siliconflow/*"`) becomes one concrete
deployment per model its channel lists, added to (and removed from) LiteLLM's Router at run
time. `tag:` and `auto:*` then see them like configured ones.

- A listing that fails or answers garbage keeps the last good one (nothing is removed).
- Every good listing is stored with its time; on start the stored one is applied before any
  network call, so routing works at once after a restart.
- A configured deployment of the same upstream model wins: no discovered twin is added.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from router_ext import deployment as shape
from router_ext.litellm_seam import router_registry
from scrapers.fetch import FetchError, fetch_json, safe_url
from scrapers.listing import ListedModel, ListingError, listing_headers, listing_url, parse_listing

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

from router_ext.clock import aware

log = logging.getLogger("smart_router")
DISCOVERED = "discovered_from"  # model_info key naming the wildcard a deployment came from


@dataclass(frozen=True, slots=True)
class WildcardSource:
    key: str  # stable name: the wildcard's model_name, e.g. "siliconflow/*"
    deployment: Mapping[str, Any]
    name_prefix: str  # "siliconflow/"
    upstream_prefix: str  # "openai/"
    provider: str
    channel: str

    @property
    def url(self) -> str:
        return str(
            shape.info(self.deployment).get("discovery_url")
            or listing_url(self.provider, shape.api_base(self.deployment))
        )

    def deployment_for(self, model: ListedModel) -> dict[str, Any]:
        concrete = copy.deepcopy(dict(self.deployment))
        concrete["model_name"] = self.name_prefix + model.id
        params = dict(shape.params(concrete))
        params["model"] = self.upstream_prefix + model.id
        concrete["litellm_params"] = params
        info = dict(shape.info(concrete))
        info["id"] = f"{self.channel}/{model.id}"
        info[DISCOVERED] = self.key
        info.setdefault("channel", self.channel)
        if model.context_tokens and "max_input_tokens" not in info:
            info["max_input_tokens"] = model.context_tokens
        concrete["model_info"] = info
        return concrete


@dataclass
class Listing:
    models: list[ListedModel]
    listed_at: float


@dataclass
class DiscoveryResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    listed: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "listed": self.listed, "errors": self.errors}


def wildcard_sources(model_list: Sequence[Mapping[str, Any]]) -> list[WildcardSource]:
    sources = []
    for deployment in model_list:
        name, upstream = shape.model_name(deployment), shape.upstream_model(deployment)
        if not name.endswith("*") or not upstream.endswith("*"):
            continue
        if shape.info(deployment).get("discover") is False:
            continue
        sources.append(
            WildcardSource(
                key=name,
                deployment=deployment,
                name_prefix=name[:-1],
                upstream_prefix=upstream[:-1],
                provider=shape.provider(deployment),
                channel=shape.channel_name(deployment),
            )
        )
    return sources


class Discovery:
    def __init__(
        self,
        router: Callable[[], Any],
        engine: Callable[[], AsyncEngine | None],
        on_change: Callable[[], None],
        *,
        attempts: int = 3,
        timeout_s: float = 15.0,
    ) -> None:
        self._router = router
        self._engine = engine
        self._on_change = on_change
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.sources: dict[str, WildcardSource] = {}
        self.listings: dict[str, Listing] = {}
        self.errors: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def _model_list(self) -> list[Mapping[str, Any]]:
        router = self._router()
        return list(router_registry.deployments(router))

    def _learn_sources(self) -> None:
        if not self.sources:
            self.sources = {s.key: s for s in wildcard_sources(self._model_list())}

    # -- start: the stored listing first -----------------------------------------------------
    async def restore(self) -> DiscoveryResult:
        self._learn_sources()
        engine = self._engine()
        result = DiscoveryResult()
        if engine is None or not self.sources:
            return result
        import sqlalchemy as sa  # loaded with the store, never on the proxy's start

        from router_ext.store.record_store import discovered_models

        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(discovered_models))).mappings().all()
        stored: dict[str, list[ListedModel]] = {}
        times: dict[str, float] = {}
        for row in rows:
            stored.setdefault(row["source"], []).append(
                ListedModel(row["model_id"], row["context_tokens"], row["params_b"])
            )
            times[row["source"]] = aware(row["listed_at"]).timestamp()
        async with self._lock:
            for key, models in stored.items():
                mine = self.listings.get(key)
                # Newer than ours: another replica listed it (it ran the scheduled job).
                if key in self.sources and (mine is None or times[key] > mine.listed_at):
                    self.listings[key] = Listing(models, times[key])
                    self._apply(self.sources[key], models, result)
        if result.added or result.removed:
            log.info(
                "smart-router: applied stored listings: %d model(s) added, %d removed",
                len(result.added),
                len(result.removed),
            )
            self._on_change()
        return result

    # -- listing -------------------------------------------------------------------------------
    async def discover(self, progress: Callable[[str], None] | None = None) -> DiscoveryResult:
        self._learn_sources()
        result = DiscoveryResult()
        fetched = await asyncio.gather(*(self.list_source(source) for source in self.sources.values()))
        async with self._lock:
            for source, outcome in zip(self.sources.values(), fetched, strict=True):
                if progress is not None:
                    progress(source.key)
                if isinstance(outcome, str):
                    result.errors[source.key] = outcome
                    self.errors[source.key] = outcome
                    log.warning(
                        "smart-router: listing %s failed (%s); keeping its last listing", source.key, outcome
                    )
                    continue
                self.errors.pop(source.key, None)
                self.listings[source.key] = Listing(outcome, time.time())
                result.listed[source.key] = len(outcome)
                self._apply(source, outcome, result)
                await self._store(source.key, outcome)
        if result.added or result.removed:
            log.info(
                "smart-router: discovery added %d and removed %d model(s)",
                len(result.added),
                len(result.removed),
            )
            self._on_change()
        return result

    async def list_source(self, source: WildcardSource) -> list[ListedModel] | str:
        try:
            body = await fetch_json(
                source.url,
                listing_headers(source.provider, shape.api_key(source.deployment)),
                attempts=self.attempts,
                timeout_s=self.timeout_s,
            )
            return parse_listing(source.provider, body)
        except (FetchError, ListingError) as error:
            return str(error)

    def _apply(self, source: WildcardSource, models: Sequence[ListedModel], result: DiscoveryResult) -> None:
        router = self._router()
        if router is None:
            return
        listed = router_registry.deployments(router)
        present = {str(shape.deployment_id(d)) for d in listed if shape.info(d).get(DISCOVERED) == source.key}
        configured = {
            _route_key(d)
            for d in listed
            if not shape.info(d).get(DISCOVERED) and "*" not in shape.model_name(d)
        }
        wanted: dict[str, dict[str, Any]] = {}
        for model in models:
            deployment = source.deployment_for(model)
            if _route_key(deployment) not in configured:
                wanted[deployment["model_info"]["id"]] = deployment
        # an id another source (or the config) holds already stays theirs, as LiteLLM kept the first
        taken = {str(shape.deployment_id(d)) for d in listed} - present
        removed = sorted(present - wanted.keys())
        added = [i for i in wanted if i not in present and i not in taken]
        router_registry.change_deployments(router, [wanted[i] for i in added], removed)
        result.removed += removed
        result.added += added

    async def _store(self, key: str, models: Sequence[ListedModel]) -> None:
        engine = self._engine()
        if engine is None:
            return
        from router_ext.store.record_store import discovered_models

        now = dt.datetime.fromtimestamp(time.time(), tz=dt.UTC)
        try:
            async with engine.begin() as conn:
                await conn.execute(discovered_models.delete().where(discovered_models.c.source == key))
                if models:
                    await conn.execute(
                        discovered_models.insert(),
                        [
                            {
                                "source": key,
                                "model_id": m.id,
                                "context_tokens": m.context_tokens,
                                "params_b": m.params_b,
                                "listed_at": now,
                            }
                            for m in {m.id: m for m in models}.values()
                        ],
                    )
        except Exception as error:  # noqa: BLE001  # the listing still applies; it is only not kept
            log.warning("smart-router: could not store the listing of %s (%s)", key, type(error).__name__)

    def describe(self) -> dict[str, Any]:
        return {
            key: {
                "models": len(self.listings[key].models) if key in self.listings else None,
                "listed_at": _iso(self.listings[key].listed_at) if key in self.listings else None,
                "last_error": self.errors.get(key),
                "url": safe_url(source.url),  # a query string may carry a key
            }
            for key, source in self.sources.items()
        }


def _route_key(deployment: Mapping[str, Any]) -> tuple[str, str]:
    return (shape.upstream_model(deployment), shape.api_base(deployment) or "")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat()
