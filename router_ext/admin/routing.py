"""`/routing/*`: tags, strategy, explain, records, stats, spend and channels, for admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from router_ext.admin.auth import require_admin
from router_ext.errors import router_error

ENDPOINT_NAMES = ("chat", "responses", "messages", "embeddings", "completions")

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime
    from strategies.decision import Decision


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


class LearnedQuality(BaseModel):
    prior: float = Field(description="the channel's quality before feedback (config, table or size)")
    good: float = Field(description="sum of the feedback scores for this kind")
    bad: float = Field(description="sum of 1 - score")
    result: float = Field(description="the quality used for this kind")


class RankedCandidate(BaseModel):
    rank: int
    channel: str = Field(description="deployment id")
    model_name: str
    upstream_model: str
    total: float
    signals: dict[str, SignalDetail]
    quality_source: str = Field("", description="config | table:<model> | size | default")
    learned: LearnedQuality | None = Field(None, description="feedback for this prompt's kind, when any")


class DifficultyDetail(BaseModel):
    tier: str = Field(description="simple | medium | complex | reasoning")
    kind: str
    score: float
    signals: dict[str, float] = Field(description="the signals that decided the tier, with their part")


class FloorDetail(BaseModel):
    tier: str = Field(description="the tier whose floor applied (raised by x-router-tier, or stepped down)")
    minimum: float
    kind: str | None = None
    needs_reasoning: bool = False
    stepped_down_from: str | None = None
    excluded: int = Field(0, description="candidates below the floor (or not thinking models)")


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
    rule: str | None = Field(None, description="the scenario rule that matched (smart_router.rules)")
    routed_as: str = Field(description="the virtual name ranked: the model, or the rule's route")
    difficulty: DifficultyDetail | None = Field(
        None, description="the prompt's tier and kind (with `prompt`)"
    )
    floor: FloorDetail | None = Field(None, description="the quality floor, for names that use one")
    openrouter: dict[str, Any] | None = Field(
        None,
        description="what OpenRouter's fields did (models, provider, variants), as x-router-openrouter says",
    )


class FeedbackRequest(BaseModel):
    request_id: str = Field(min_length=1, max_length=64, description="the answer's x-router-request-id")
    score: float | bool = Field(description="0 (bad) .. 1 (good), or a boolean")


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
    observations: int = Field(
        0,
        description="outcomes this process has observed (successes and failed attempts); "
        "0: success_rate is the prior alone",
    )
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
    source: str = Field("config", description="config | store | discovered")
    stored_channel: str | None = Field(None, description="the stored channel this deployment is a key of")
    rate_limits: list[dict[str, Any]] = Field(
        default_factory=list,
        description="known rate-limit windows: kind, limit, remaining, reset_at, source (headers | config)",
    )


class ChannelsResponse(BaseModel):
    channels: list[ChannelStatus]


def build_admin_router(runtime: RouterRuntime) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])
    admin = runtime.admin

    @router.get("/version", summary="smart-router's and LiteLLM's versions, and the features on")
    async def version() -> dict[str, Any]:
        from importlib import metadata

        from router_ext.litellm_seam.features import check_features

        return {"smart_router_version": metadata.version("smart-router"), **check_features().as_dict()}

    @router.get("/tags", response_model=TagsResponse, summary="Tags and how many channels carry each")
    async def list_tags() -> TagsResponse:
        return TagsResponse.model_validate(admin.tags())

    @router.get("/strategy", response_model=StrategyResponse, summary="The active strategy")
    async def get_strategy() -> StrategyResponse:
        return StrategyResponse(**admin.strategy())

    @router.put("/strategy", response_model=StrategyResponse, summary="Switch the active strategy")
    async def put_strategy(update: StrategyUpdate) -> StrategyResponse:
        return StrategyResponse(**admin.set_strategy(update.strategy))

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
        max_tokens: int | None = Query(None, ge=1, le=10_000_000, description="expected output tokens"),
        prompt_tokens: int = Query(0, ge=0, le=100_000_000, description="prompt size to assume, in tokens"),
        tools: bool = Query(False, description="the request carries tools"),
        vision: bool = Query(False, description="the request carries images"),
        limit: int = Query(20, ge=1, le=1000, description="ranked candidates to return"),
        endpoint: str = Query(
            "chat",
            description="chat | responses | messages | embeddings | completions: what the request calls",
        ),
        prompt: str | None = Query(
            None, max_length=100_000, description="the user's prompt: classified, and its floor applied"
        ),
        tier: str | None = Query(None, description="assume this tier (raises the prompt's, never lowers)"),
        models: Annotated[
            list[str] | None, Query(description="OpenRouter's fallback models, as /api/v1 takes them")
        ] = None,
        provider: str | None = Query(
            None,
            description='OpenRouter\'s provider preferences as JSON, e.g. {"sort": "price", "only": ["openai"]}',
        ),
    ) -> ExplainResponse:
        if endpoint not in ENDPOINT_NAMES:
            raise router_error(
                400,
                "invalid_parameter",
                f"endpoint must be one of {', '.join(ENDPOINT_NAMES)}, not {endpoint!r}",
                param="endpoint",
            )
        data: dict[str, Any] = {"model": model, "messages": [], "max_tokens": max_tokens}
        if strategy:
            data["metadata"] = {"router_strategy": strategy}
        if tools:
            data["tools"] = [{"type": "function", "function": {"name": "explain"}}]
        if prompt is not None:
            data["messages"] = [{"role": "user", "content": prompt}]
        if vision:
            data["messages"] = [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "x"}},
                        *([{"type": "text", "text": prompt}] if prompt else []),
                    ],
                }
            ]
        if tier:
            data.setdefault("metadata", {})["router_tier"] = tier
        prefs = _openrouter_preferences(model, models or [], provider)
        decision, rule, openrouter = runtime.explain(
            model,
            data,
            prompt_tokens=None if prompt is not None and not prompt_tokens else prompt_tokens,
            endpoint=endpoint,
            openrouter=prefs,
        )
        if decision is None:
            raise router_error(
                400,
                "not_virtual",
                f"{model!r} is a concrete model name, routed by LiteLLM as is; "
                "explain takes a virtual name (tag:..., auto, auto:free, ...)",
                param="model",
            )
        explained = _explained(model, decision, limit, rule, runtime)
        explained.openrouter = openrouter
        return explained

    @router.post(
        "/feedback",
        summary="Score an answer: moves its channel's quality for that kind of prompt",
        description="`score` 0..1 (or a boolean) for the request `x-router-request-id` named. Each score "
        "counts in a Beta posterior per (kind, channel); explain shows prior, evidence and result.",
    )
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        from router_ext.state.quality_feedback import FeedbackError

        try:
            return await runtime.feedback.give(body.request_id, body.score, "api")
        except FeedbackError as error:
            raise router_error(error.status, error.kind, error.message, param="request_id") from None

    @router.get("/records", summary="Request records, newest first")
    async def list_records(
        limit: str = Query("50", description="how many records (1..1000)"),
        session: str | None = Query(None, description="only this session"),
        before_id: str | None = Query(None, description="page: records older than this id"),
    ) -> dict[str, Any]:
        count = _int_param("limit", limit, 1, 1000)
        before = _int_param("before_id", before_id, 1, 2**63 - 1) if before_id is not None else None
        return await admin.records(count, session, before)

    @router.get("/stats", summary="Totals by model and channel for a period")
    async def stats(period: str = Query("day", description="day | week | month")) -> dict[str, Any]:
        return await admin.stats(period)

    @router.get(
        "/stats/charts",
        summary="Per day: spend by channel and model, requests, errors; latency; free vs paid",
    )
    async def charts(days: str = "30") -> dict[str, Any]:
        return await admin.charts(_int_param("days", days, 1, 90))

    @router.get("/spend", summary="Global spend and budgets for today and this month (UTC)")
    async def spend() -> dict[str, Any]:
        return admin.spend()

    @router.get("/channels", response_model=ChannelsResponse, summary="Every channel with its health")
    async def list_channels() -> ChannelsResponse:
        await runtime.until_routable()  # right after a start: stored channels are listed once loaded
        return ChannelsResponse(channels=[ChannelStatus(**c) for c in admin.channels()])

    @router.post(
        "/channels/{channel_id}/enable",
        response_model=ChannelStatus,
        summary="Re-admit a channel and its key",
    )
    async def enable_channel(channel_id: str) -> ChannelStatus:
        return ChannelStatus(**admin.enable_channel(channel_id))

    @router.post("/channels/{channel_id}/disable", response_model=ChannelStatus, summary="Take a channel out")
    async def disable_channel(channel_id: str) -> ChannelStatus:
        return ChannelStatus(**admin.disable_channel(channel_id))

    @router.post(
        "/channels/{channel_id}/reset", response_model=ChannelStatus, summary="Forget a channel's failures"
    )
    async def reset_channel(channel_id: str) -> ChannelStatus:
        return ChannelStatus(**admin.reset_channel(channel_id))

    return router


def _explained(
    model: str, decision: Decision, limit: int, rule: str | None, runtime: RouterRuntime
) -> ExplainResponse:
    from strategies.quality import channel_quality, quality_source

    weights = decision.strategy.weights
    difficulty = decision.ranking_request.difficulty if decision.ranking_request is not None else None
    kind = difficulty.kind if difficulty is not None else None
    learned = runtime.feedback.learned
    ranked = []
    for rank, channel in enumerate(decision.ranked[:limit]):
        posterior = (
            learned.posterior(kind, channel.id, channel_quality(channel))
            if kind is not None and learned.has(kind)
            else None
        )
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
                quality_source=quality_source(channel),
                learned=LearnedQuality(**posterior.as_dict()) if posterior and posterior.evidence else None,
            )
        )
    floor = decision.floor
    return ExplainResponse(
        model=model,
        rule=rule,
        routed_as=decision.spec.name,
        strategy=decision.strategy.name,
        weights=dict(weights),
        eligible=decision.eligible,
        ranked=ranked,
        excluded=[
            ExcludedCandidate(channel=e.channel.id, filter=e.filter, reason=e.reason)
            for e in decision.excluded
        ],
        difficulty=DifficultyDetail(
            tier=difficulty.tier,
            kind=difficulty.kind,
            score=round(difficulty.score, 3),
            signals=dict(difficulty.signals),
        )
        if difficulty is not None
        else None,
        floor=FloorDetail(
            tier=floor.tier,
            minimum=floor.minimum,
            kind=floor.kind,
            needs_reasoning=floor.needs_reasoning,
            stepped_down_from=floor.stepped_from,
            excluded=sum(1 for e in decision.excluded if e.filter in ("floor", "reasoning")),
        )
        if floor is not None
        else None,
    )


def _openrouter_preferences(model: str, models: list[str], provider: str | None) -> Any:
    """OpenRouter's fields given to explain, read as `/api/v1` reads them (None: none given)."""
    import json

    from router_ext.openrouter.preferences import PreferenceError, take_preferences
    from router_ext.openrouter.routing import has_variant

    if not models and provider is None and not has_variant(model):
        return None
    body: dict[str, Any] = {"models": models} if models else {}
    if provider is not None:
        try:
            body["provider"] = json.loads(provider)
        except ValueError:
            raise router_error(
                400, "invalid_parameter", 'provider must be JSON, e.g. {"sort": "price"}', param="provider"
            ) from None
    try:
        return take_preferences(body)
    except PreferenceError as error:
        raise router_error(400, "invalid_parameter", str(error), param=error.field) from None


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
