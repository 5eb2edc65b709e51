"""Our admin API under `/routing/*`, and virtual names added to `GET /v1/models`."""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from catalog.virtual import BUILTIN_VIRTUAL_MODELS
from router_ext.admin.auth import require_admin, require_some_key
from router_ext.admin.catalogue import build_catalogue_router
from router_ext.admin.keys import build_key_router
from router_ext.admin.ui import build_ui_router
from router_ext.catalogue.discovery import DISCOVERED
from router_ext.catalogue.price_book import PRICE_AT, PRICE_SOURCE
from router_ext.errors import router_error
from router_ext.state.routing_state import UnknownStrategyError
from router_ext.state.spend_tracker import utc_now

if TYPE_CHECKING:
    from router_ext.hook import SmartRouterHook
    from router_ext.store.record_store import RecordStore

T = TypeVar("T")


class TagCount(BaseModel):
    tag: str
    channels: int


class TagsResponse(BaseModel):
    channels: int = Field(description="channels in the catalogue")
    tags: list[TagCount]


class StrategyResponse(BaseModel):
    strategy: str
    available: list[str]
    reason: str = Field(
        "config", description="why this strategy is active: config, admin, shared, on_budget: ..."
    )


class StrategyUpdate(BaseModel):
    strategy: str = Field(description="name of the strategy to make active", examples=["free_first"])


class SignalDetail(BaseModel):
    value: float = Field(description="normalised 0..1, higher is better")
    weight: float
    contribution: float = Field(description="value x weight")


class RankedCandidate(BaseModel):
    rank: int
    channel: str = Field(description="deployment id")
    model_name: str
    upstream_model: str
    total: float
    signals: dict[str, SignalDetail]


class ExcludedCandidate(BaseModel):
    channel: str
    filter: str
    reason: str


class ExplainResponse(BaseModel):
    model: str
    strategy: str
    weights: dict[str, float]
    eligible: int = Field(description="candidates left after filters")
    ranked: list[RankedCandidate]
    excluded: list[ExcludedCandidate]


class ChannelStatus(BaseModel):
    id: str = Field(description="deployment id")
    model_name: str
    upstream_model: str
    channel: str
    provider: str
    local: bool
    free: bool
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    state: str = Field(description="closed | open | half_open | disabled")
    consecutive_failures: int
    reopen_at: float | None = Field(description="epoch seconds when an open breaker lets a probe through")
    last_error_class: str | None = Field(description="permanent | temporary | model_unavailable | caller")
    last_error_reason: str | None
    last_error: str | None = Field(description="upstream message, secrets masked")
    last_error_at: float | None
    key_fingerprint: str | None = Field(description="fp- + 12 hex of the key's SHA-256; never the key")
    key_disabled: bool
    success_rate: float = Field(description="recent success rate (with a 0.9 prior)")
    quota_requests_left: int | None = Field(
        None, description="requests left today under model_info.daily_requests"
    )
    quota_tokens_left: int | None = Field(None, description="tokens left today under model_info.daily_tokens")
    latency_ms: float | None = Field(None, description="recent latency (moving average), when observed")
    price_source: str | None = Field(
        None, description="config, openrouter, siliconflow, ... (None = unknown)"
    )
    price_at: str | None = Field(None, description="when a scraped price was fetched")
    price_stale: bool = Field(False, description="the scraped price is older than prices.max_age_hours")
    discovered_from: str | None = Field(None, description="the wildcard deployment this one was listed by")


class ChannelsResponse(BaseModel):
    channels: list[ChannelStatus]


def build_admin_router(hook: SmartRouterHook) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])

    @router.get("/tags", response_model=TagsResponse, summary="Tags and how many channels carry each")
    async def list_tags() -> TagsResponse:
        index = hook.index()
        return TagsResponse(
            channels=index.size,
            tags=[TagCount(tag=t, channels=n) for t, n in index.tag_counts().items()],
        )

    @router.get("/strategy", response_model=StrategyResponse, summary="The active strategy")
    async def get_strategy() -> StrategyResponse:
        return StrategyResponse(
            strategy=hook.state.active, available=hook.state.available, reason=hook.state.reason
        )

    @router.put("/strategy", response_model=StrategyResponse, summary="Switch the active strategy")
    async def put_strategy(update: StrategyUpdate) -> StrategyResponse:
        try:
            hook.state.set_active(update.strategy)
        except UnknownStrategyError as error:
            raise router_error(400, "invalid_strategy", str(error), param="strategy") from None
        return StrategyResponse(
            strategy=hook.state.active, available=hook.state.available, reason=hook.state.reason
        )

    @router.get(
        "/explain",
        response_model=ExplainResponse,
        summary="Why the router would pick what it picks",
        description="Ranks the candidates for `model` as a request would, with every signal, "
        "weight and total, plus the candidates excluded and why.",
    )
    async def explain(
        model: str = Query(..., description="a virtual name: tag:qwen,free, auto, auto:free, ..."),
        strategy: str | None = Query(None, description="rank with this strategy instead of the active one"),
        max_tokens: int | None = Query(None, ge=1, description="expected output tokens"),
        prompt_tokens: int = Query(0, ge=0, description="prompt size to assume, in tokens"),
        tools: bool = Query(False, description="the request carries tools"),
        vision: bool = Query(False, description="the request carries images"),
        limit: int = Query(20, ge=1, le=1000, description="ranked candidates to return"),
    ) -> ExplainResponse:
        data: dict[str, Any] = {"model": model, "messages": [], "max_tokens": max_tokens}
        if strategy:
            data["metadata"] = {"router_strategy": strategy}
        if tools:
            data["tools"] = [{"type": "function", "function": {"name": "explain"}}]
        if vision:
            data["messages"] = [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ]
        decision = hook.decide(model, data, explain=True, prompt_tokens=prompt_tokens)
        if decision is None:
            raise router_error(
                400,
                "not_virtual",
                f"{model!r} is a concrete model name, routed by LiteLLM as is; "
                "explain takes a virtual name (tag:..., auto, auto:free, ...)",
                param="model",
            )
        weights = decision.strategy.weights
        ranked = []
        for rank, channel in enumerate(decision.ranked[:limit]):
            signals = {
                name: SignalDetail(
                    value=round(float(values[rank]), 6),
                    weight=weights.get(name, 0.0),
                    contribution=round(float(values[rank]) * weights.get(name, 0.0), 6),
                )
                for name, values in decision.ranking.signals.items()
            }
            ranked.append(
                RankedCandidate(
                    rank=rank + 1,
                    channel=channel.id,
                    model_name=channel.model_name,
                    upstream_model=channel.upstream_model,
                    total=round(decision.scores[rank], 6),
                    signals=signals,
                )
            )
        return ExplainResponse(
            model=model,
            strategy=decision.strategy.name,
            weights=dict(weights),
            eligible=decision.eligible,
            ranked=ranked,
            excluded=[
                ExcludedCandidate(channel=e.channel.id, filter=e.filter, reason=e.reason)
                for e in decision.excluded
            ],
        )

    @router.get("/records", summary="Request records, newest first")
    async def list_records(
        limit: str = Query("50", description="how many records (1..1000)"),
        session: str | None = Query(None, description="only this session"),
        before_id: str | None = Query(None, description="page: records older than this id"),
    ) -> dict[str, Any]:
        count = _int_param("limit", limit, 1, 1000)
        before = _int_param("before_id", before_id, 1, None) if before_id is not None else None
        store = _store(hook)
        rows = await _reading(store.records(count, session, before))
        for row in rows:
            row["created_at"] = row["created_at"].isoformat() if row.get("created_at") else None
        return {
            "records": rows,
            "next_before_id": rows[-1]["id"] if len(rows) == count else None,
            "buffered": len(store.buffer),
            "dropped": store.dropped,
        }

    @router.get("/stats", summary="Totals by model and channel for a period")
    async def stats(period: str = Query("day", description="day | week | month")) -> dict[str, Any]:
        days = {"day": 1, "week": 7, "month": 30}.get(period)
        if days is None:
            raise router_error(
                400, "invalid_parameter", f"period must be day, week or month, not {period!r}", param="period"
            )
        since = utc_now() - dt.timedelta(days=days)
        result = await _reading(_store(hook).stats(since))
        top = result["by_model"][:5], result["by_channel"][:5]
        return {
            "period": period,
            "since": since.isoformat(),
            **result,
            "top_models": top[0],
            "top_channels": top[1],
        }

    @router.get("/spend", summary="Global spend and budgets for today and this month (UTC)")
    async def spend() -> dict[str, Any]:
        now = utc_now()
        book = hook.spend.book
        budgets = {f"{limit.scope}:{limit.period}": limit.usd for limit in book.limits}
        return {
            "day": {
                "spent_usd": book.spent("global", "*", "day", now),
                "budget_usd": budgets.get("global:day"),
            },
            "month": {
                "spent_usd": book.spent("global", "*", "month", now),
                "budget_usd": budgets.get("global:month"),
            },
            "budgets": budgets,
        }

    @router.get("/channels", response_model=ChannelsResponse, summary="Every channel with its health")
    async def list_channels() -> ChannelsResponse:
        index = hook.index()
        now = time.time()
        rates = hook.observations.success_rate()
        today = utc_now()
        statuses = []
        infos = _model_infos()
        latency = hook.observations.latency_ms
        for p, c in enumerate(index.channels):
            left = hook.quotas.remaining(c.id, today)
            info = infos.get(c.id, {})
            price_at = info.get(PRICE_AT)
            statuses.append(
                ChannelStatus(
                    id=c.id,
                    model_name=c.model_name,
                    upstream_model=c.upstream_model,
                    channel=c.channel,
                    provider=c.provider,
                    local=c.local,
                    free=c.is_free,
                    input_cost_per_token=c.input_cost_per_token,
                    output_cost_per_token=c.output_cost_per_token,
                    success_rate=round(float(rates[p]), 4),
                    quota_requests_left=left["requests"],
                    quota_tokens_left=left["tokens"],
                    latency_ms=None if math.isnan(latency[p]) else round(float(latency[p]), 1),
                    price_source=info.get(PRICE_SOURCE) or ("map" if c.price_verified else None),
                    price_at=dt.datetime.fromtimestamp(price_at, tz=dt.UTC).isoformat()
                    if isinstance(price_at, (int, float))
                    else None,
                    price_stale=hook.prices.stale(info, now),
                    discovered_from=info.get(DISCOVERED),
                    **hook.health.describe(c.id, now),
                )
            )
        return ChannelsResponse(channels=statuses)

    def _known(channel_id: str) -> str:
        if channel_id not in hook.index().position_by_id:
            raise router_error(
                404,
                "channel_not_found",
                f"no channel with id {channel_id!r}; see GET /routing/channels",
                param="channel_id",
            )
        return channel_id

    @router.post(
        "/channels/{channel_id}/enable",
        response_model=ChannelStatus,
        summary="Re-admit a channel and its key",
    )
    async def enable_channel(channel_id: str) -> ChannelStatus:
        hook.health.enable(_known(channel_id), time.time())
        return await _status(channel_id)

    @router.post("/channels/{channel_id}/disable", response_model=ChannelStatus, summary="Take a channel out")
    async def disable_channel(channel_id: str) -> ChannelStatus:
        hook.health.disable(_known(channel_id), time.time())
        return await _status(channel_id)

    @router.post(
        "/channels/{channel_id}/reset", response_model=ChannelStatus, summary="Forget a channel's failures"
    )
    async def reset_channel(channel_id: str) -> ChannelStatus:
        hook.health.reset(_known(channel_id), time.time())
        return await _status(channel_id)

    async def _status(channel_id: str) -> ChannelStatus:
        listing = await list_channels()
        return next(c for c in listing.channels if c.id == channel_id)

    return router


def _model_infos() -> dict[str, dict[str, Any]]:
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    infos: dict[str, dict[str, Any]] = {}
    for deployment in router.model_list if router is not None else []:
        info = deployment.get("model_info")
        if isinstance(info, dict) and info.get("id"):
            infos[str(info["id"])] = info
    return infos


def _int_param(name: str, value: str, low: int, high: int | None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise router_error(
            400, "invalid_parameter", f"{name} must be an integer, not {value!r}", param=name
        ) from None
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise router_error(400, "invalid_parameter", f"{name} must be {bounds}, not {number}", param=name)
    return number


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


def _store(hook: SmartRouterHook) -> RecordStore:
    store = hook.spend.store
    if store is None or store.engine is None:
        if hook.spend.store_url is not None:
            hook.start_now()
            raise router_error(
                503, "store_unavailable", "the record store is starting or its database is unreachable; retry"
            )
        raise router_error(503, "store_unavailable", "request records are off (smart_router.records: false)")
    return store


def virtual_model_entries(hook: SmartRouterHook) -> list[dict[str, Any]]:
    created = int(time.time())
    names = [*BUILTIN_VIRTUAL_MODELS, *(spec.name for spec in hook.virtual_models.values())]
    return [{"id": name, "object": "model", "created": created, "owned_by": "smart-router"} for name in names]


def _with_virtual_models(hook: SmartRouterHook, listing: Any) -> Any:
    @functools.wraps(listing)
    async def model_list(*args: Any, **kwargs: Any) -> Any:
        result = await listing(*args, **kwargs)
        if isinstance(result, dict) and isinstance(result.get("data"), list):
            listed = {entry.get("id") for entry in result["data"] if isinstance(entry, dict)}
            result["data"] += [e for e in virtual_model_entries(hook) if e["id"] not in listed]
        return result

    return model_list


def mount_routes(hook: SmartRouterHook) -> None:
    from litellm.proxy import proxy_server

    app: FastAPI = proxy_server.app
    if getattr(app.state, "smart_router_mounted", False):
        return
    app.include_router(build_admin_router(hook))
    app.include_router(build_key_router(hook))
    app.include_router(build_catalogue_router(hook))
    app.include_router(build_ui_router())
    # LiteLLM's listing can only be narrowed by callbacks, so we put a route in front of it
    # that calls LiteLLM's own handler (same signature, same auth) and appends our names.
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    listing = _with_virtual_models(hook, proxy_server.model_list)
    for path in ("/v1/models", "/models"):
        route = APIRoute(
            path,
            listing,
            methods=["GET"],
            dependencies=[Depends(require_some_key), Depends(user_api_key_auth)],
            tags=["model management"],
            include_in_schema=False,
        )
        app.router.routes.insert(0, route)
    app.state.smart_router_mounted = True
