"""Our settings: the `smart_router:` section of the LiteLLM config, parsed once at start-up.

Unknown keys are start-up errors that name the key; nothing in our section is silently dropped.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from accounting.budgets import Limit
from catalog.query import TagQueryError, parse_tag_query
from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec
from health.breaker import BreakerPolicy
from scrapers.price_sources import PRICE_SOURCES
from strategies.difficulty import KINDS, Kind, Tier
from strategies.floor import DEFAULT_FLOORS
from strategies.hedging import HedgePolicy

SECTION = "smart_router"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/router.db"


class SettingsError(ValueError):
    """The `smart_router:` section is invalid; the message names the key and what to fix."""


class VirtualModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, description="tag query selecting the channels, e.g. 'tag:coder,>=30b'")
    strategy: str | None = Field(None, description="strategy ranking them; default: the active one")
    free_only: bool = Field(
        False, description="only verified free channels (price 0 in the config or a price source)"
    )
    local_only: bool = Field(
        False,
        description="only local channels (model_info.local, else loopback / private / Ollama / LM Studio)",
    )
    description: str = Field("", description="text shown for this name in /api/v1/models, before its prices")
    quality_floor: bool = Field(
        False,
        description="the prompt's difficulty tier sets a minimum channel quality (smart_router.difficulty)",
    )

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_tag_query(value)  # TagQueryError is a ValueError: pydantic reports it with the key
        return value


class RuleMatch(BaseModel):
    """What a scenario rule matches (every condition given must hold)."""

    model_config = ConfigDict(extra="forbid")

    model: str | list[str] | None = Field(None, description="requested model name globs: 'claude-*haiku*'")
    endpoint: str | list[str] | None = Field(
        None, description="chat | responses | messages | embeddings | completions"
    )
    prompt_tokens_over: int | None = Field(None, ge=0, description="estimated prompt tokens above this")
    tools: bool | None = Field(None, description="the request offers tools (true) or none (false)")
    tool: str | None = Field(None, description="a tool of this name (glob) is offered, e.g. 'web_search*'")
    images: bool | None = Field(None, description="the request carries images (true) or none (false)")
    thinking: bool | None = Field(None, description="extended thinking / reasoning asked for")
    header: dict[str, str] | None = Field(None, description="request header name -> value glob")
    client_key: str | list[str] | None = Field(None, description="the client key's name (glob)")
    complexity: Tier | list[Tier] | None = Field(
        None, description="the prompt's difficulty tier: simple | medium | complex | reasoning"
    )
    kind: Kind | list[Kind] | None = Field(None, description="the prompt's kind: " + " | ".join(KINDS))


class DifficultySettings(BaseModel):
    """`smart_router.difficulty`: how a prompt's difficulty tier sets a quality floor
    (for `auto:smart` and virtual models with `quality_floor: true`)."""

    model_config = ConfigDict(extra="forbid")

    floors: dict[Tier, float] = Field(
        default_factory=lambda: typing.cast(dict[Tier, float], dict(DEFAULT_FLOORS)),
        description="tier -> minimum channel quality 0..1 (tiers not given keep their default)",
    )
    step_down: bool = Field(
        False,
        description="when no channel meets a tier's floor (or all that do are down), use the floor of the "
        "tier below, once, and record it; false = answer an error naming the floor",
    )
    reasoning_channels: bool = Field(
        True, description="reasoning prompts go to thinking models when one meets the floor"
    )
    feedback_header: bool = Field(
        True, description="accept `x-router-feedback: <request id>=<score>` on a client's next request"
    )

    @field_validator("floors")
    @classmethod
    def _floors(cls, value: dict[str, float]) -> dict[str, float]:
        for tier, minimum in value.items():
            if not 0.0 <= minimum <= 1.0:
                raise ValueError(f"floors.{tier} must be between 0 and 1, not {minimum}")
        return {**DEFAULT_FLOORS, **value}


class RuleSettings(BaseModel):
    """`smart_router.rules[]`: the first rule that matches a request decides where it goes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        ...,
        min_length=1,
        description="names the rule in x-router-rule, the record, explain and start-up errors",
    )
    match: RuleMatch = Field(default_factory=RuleMatch)
    route: str | None = Field(None, description="a virtual name: tag query, auto, auto:*, a virtual model")
    strategy: str | None = Field(None, description="rank with this strategy")


class HealthSettings(BaseModel):
    """Breakers, failover and recovery (`smart_router.health`)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description="slow failed attempts (timeouts, errors after slow_attempt_s) before a request gives up; "
        "fast failures (a dead key, a 429, a 500) cost nothing and never count",
    )
    failover_deadline_s: float = Field(
        30.0, gt=0, description="no new attempt is started this long after the request arrived"
    )
    slow_attempt_s: float = Field(
        2.0, gt=0, description="a failed attempt this slow counts toward max_attempts"
    )
    failure_threshold: int = Field(3, ge=1, description="consecutive failures that open a breaker")
    failure_rate: float = Field(0.5, gt=0, le=1, description="... or this failure rate over the window")
    min_calls: int = Field(10, ge=1, description="calls in the window before the rate counts")
    window_s: float = Field(
        60.0, gt=0, description="seconds of recent calls that failure_rate and min_calls count"
    )
    base_cooldown_s: float = Field(5.0, gt=0, description="first cooldown of an opened breaker")
    cooldown_multiplier: float = Field(2.0, ge=1, description="growth of the cooldown on repeated trips")
    max_cooldown_s: float = Field(
        600.0,
        gt=0,
        description="cap on the growing cooldown, seconds (an upstream's Retry-After may be longer)",
    )
    model_unavailable_cooldown_s: float = Field(3600.0, gt=0, description="after a 404 for a model")
    probe_timeout_s: float = Field(
        30.0, gt=0, description="a half-open probe unanswered by then frees the slot"
    )
    probe_interval_s: float = Field(5.0, gt=0, description="how often due channels are probed (GET /models)")
    sync_interval_s: float = Field(0.5, gt=0, description="how often shared state is read from Redis")

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.failure_threshold,
            failure_rate=self.failure_rate,
            min_calls=self.min_calls,
            window_s=self.window_s,
            base_cooldown_s=self.base_cooldown_s,
            cooldown_multiplier=self.cooldown_multiplier,
            max_cooldown_s=self.max_cooldown_s,
            model_unavailable_cooldown_s=self.model_unavailable_cooldown_s,
            probe_timeout_s=self.probe_timeout_s,
        )


class PeriodBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: float | None = Field(None, ge=0, description="USD per UTC day")
    month: float | None = Field(None, ge=0, description="USD per UTC month")


class BudgetSettings(BaseModel):
    """Spending caps in USD (`smart_router.budgets`); over a cap a request gets 429 budget_exceeded."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    global_: PeriodBudget = Field(
        default_factory=PeriodBudget, alias="global", description="caps on all spending together"
    )
    per_key: PeriodBudget = Field(
        default_factory=PeriodBudget, description="caps per API key a request is made with (each key its own)"
    )
    per_session: PeriodBudget = Field(
        default_factory=PeriodBudget,
        description="caps per session: the x-session-id header, else the request's user, else the API key",
    )
    degrade_from: float | None = Field(
        0.7,
        gt=0,
        lt=1,
        description="from this share of a global budget, weight moves from quality to cost step by step; null: off",
    )
    degrade_steps: int = Field(4, ge=1, le=20, description="steps between degrade_from and the budget")

    def limits(self) -> list[Limit]:
        found = []
        for scope, budget in (("global", self.global_), ("key", self.per_key), ("session", self.per_session)):
            for period in ("day", "month"):
                usd = getattr(budget, period)
                if usd is not None:
                    found.append(Limit(scope, period, float(usd)))
        return found


class RateCaps(BaseModel):
    """Known limits of a channel, counted here (LiteLLM's own `rpm` / `tpm` keys, and `rpd`)."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(None, ge=1, description="requests per minute")
    rpd: int | None = Field(None, ge=1, description="requests per UTC day")
    tpm: int | None = Field(None, ge=1, description="tokens per minute")


class LimitSettings(BaseModel):
    """Known rate limits (`smart_router.limits`), on top of what upstreams announce in their
    headers. A deployment's own `rpm` / `tpm` / `rpd` (model_info or litellm_params) win, then
    `channels` (by deployment id), then `providers`; OpenRouter's documented free caps apply to
    its `:free` models unless set otherwise."""

    model_config = ConfigDict(extra="forbid")

    openrouter_free: RateCaps = Field(
        default_factory=lambda: RateCaps(rpm=20, rpd=50),
        description="OpenRouter's free-model caps: 20 requests/minute, 50/day (1,000 with credits)",
    )
    providers: dict[str, RateCaps] = Field(default_factory=dict)
    channels: dict[str, RateCaps] = Field(default_factory=dict)


class StickySettings(BaseModel):
    """A session (`x-session-id`, else the request's `user`) stays on the channel that served it
    while it is healthy and costs at most `cost_margin` more than the best candidate, so the
    provider's prompt cache hits."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="keep sessions on their channel; false: every request is ranked afresh"
    )
    cost_margin: float = Field(0.25, ge=0, description="0.25 = up to 25 % dearer than the best candidate")
    strategy_margins: dict[str, float] = Field(
        default_factory=lambda: {"free_first": 0.0}, description="per strategy, overriding cost_margin"
    )
    ttl_s: float = Field(3600.0, gt=0, description="a session unseen this long is forgotten")
    max_sessions: int = Field(
        100_000,
        ge=1,
        description="sessions remembered per process; past this the least recently served is forgotten",
    )


class HedgeSettings(BaseModel):
    """Streams under a speed strategy: when the first candidate's first token is later than its
    observed `quantile` (never sooner than `floor_ms`), the next candidate starts too; the first
    to produce a token wins and the other is closed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="start the next candidate when the first is slow; false: never hedge"
    )
    strategies: list[str] = Field(
        default_factory=lambda: ["speed_optimized"],
        description="strategies whose requests hedge (a budget-degraded one counts as its base)",
    )
    quantile: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="the wait: this quantile of the channel's observed first-token times (0.9 = p90; "
        "whole-answer times for non_streams)",
    )
    floor_ms: float = Field(250.0, ge=0, description="never hedge sooner than this")
    min_samples: int = Field(5, ge=1, description="first tokens seen before the quantile is trusted")
    unobserved_ms: float = Field(1500.0, ge=0, description="the wait for a channel seen fewer times")
    max_over_median: float = Field(
        3.0,
        ge=0,
        description="the quantile, capped at this multiple of the median first token (0: no cap): a slow "
        "tail near 1 - quantile of the requests cannot drag the hedge delay into itself",
    )
    onto_paid: bool = Field(False, description="also hedge onto priced channels (may bill twice)")
    non_streams: bool = Field(
        False, description="also race whole chat answers, after the first candidate's latency quantile"
    )

    def policy(self) -> HedgePolicy:
        return HedgePolicy(
            enabled=self.enabled,
            strategies=frozenset(self.strategies),
            quantile=self.quantile,
            floor_ms=self.floor_ms,
            min_samples=self.min_samples,
            unobserved_ms=self.unobserved_ms,
            max_over_median=self.max_over_median,
            onto_paid=self.onto_paid,
            non_streams=self.non_streams,
        )


class OnBudgetRule(BaseModel):
    """At `at_percent` of a global budget, switch the active strategy (say, to free_first)."""

    model_config = ConfigDict(extra="forbid")

    at_percent: float = Field(
        ...,
        gt=0,
        le=100,
        description="percent of the global day or month budget (the fuller one) that triggers it",
    )
    strategy: str = Field(..., description="the strategy made active then, e.g. free_first")


class PriceSource(BaseModel):
    """One price source, kept for one channel (the same model can cost differently per account)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., description="openrouter | siliconflow_html | siliconflow_json")
    channel: str = Field(
        ..., description="the channel (model_info.channel, else provider) these prices are for"
    )
    url: str | None = Field(None, description="default: the provider's public page / API")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in PRICE_SOURCES:
            raise ValueError(f"unknown price source kind {value!r}; known: {', '.join(PRICE_SOURCES)}")
        return value


class PriceWindow(BaseModel):
    """A time-of-day price factor for one channel (an off-peak discount), UTC `HH:MM` times;
    a window may run past midnight (start > end)."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(
        ..., description="the channel (model_info.channel, else provider) whose prices it scales"
    )
    start: str = Field(..., examples=["16:30"])
    end: str = Field(..., examples=["00:30"])
    factor: float = Field(..., ge=0, description="price multiplier inside the window, e.g. 0.5")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"{value!r} is not a UTC time of day such as '16:30'")
        return value

    def minutes(self, clock: str) -> int:
        hours, _, minutes = clock.partition(":")
        return int(hours) * 60 + int(minutes)

    def covers(self, minute_of_day: int) -> bool:
        start, end = self.minutes(self.start), self.minutes(self.end)
        return start <= minute_of_day < end if start <= end else minute_of_day >= start or minute_of_day < end


class PriceSettings(BaseModel):
    """Channel prices (`smart_router.prices`): scraped sources, currencies, reseller multipliers and
    time-of-day windows; prices set in model_info stay as configured (windows still apply)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[PriceSource] = Field(default_factory=list)
    currency_rates: dict[str, float] = Field(
        default_factory=lambda: {"USD": 1.0, "CNY": 0.14}, description="USD per unit of each currency"
    )
    max_age_hours: float = Field(48.0, gt=0, description="older prices are shown as stale")
    multipliers: dict[str, float] = Field(
        default_factory=dict, description="channel -> factor on its scraped prices (a reseller's rate)"
    )
    windows: list[PriceWindow] = Field(
        default_factory=list, description="time-of-day factors per channel (off-peak prices), UTC"
    )

    def window_factor(self, channel: str, minute_of_day: int) -> float:
        factor = 1.0
        for window in self.windows:
            if window.channel == channel and window.covers(minute_of_day):
                factor *= window.factor
        return factor


class DiscoverySettings(BaseModel):
    """Model listings (`smart_router.discovery`): wildcard deployments expand to what each channel
    lists; `timeout_s` and `attempts` apply to price sources too."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="expand wildcard deployments from each channel's model list")
    on_start: bool = Field(True, description="list every channel (and fetch prices) right after start")
    timeout_s: float = Field(
        15.0, gt=0, description="seconds per HTTP try of a listing, price page or OpenRouter key lookup"
    )
    attempts: int = Field(3, ge=1, le=10, description="tries per listing / page, with backoff")


class ScheduleSettings(BaseModel):
    """Cron expressions (UTC); with Redis, one replica runs each firing."""

    model_config = ConfigDict(extra="forbid")

    discovery: str | None = Field("*/30 * * * *", description="re-list every channel")
    prices: str | None = Field("0 */6 * * *", description="refresh prices")

    @field_validator("discovery", "prices")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '*/30 * * * *')")
        return value


class RouterSettings(BaseModel):
    """Everything under `smart_router:` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("balanced", description="strategy used when a request names none")
    max_candidates: int = Field(5, ge=1, le=50, description="ranked channels kept per request for failover")
    default_max_tokens: int = Field(
        512, ge=1, description="expected output tokens when a request sets no max_tokens"
    )
    virtual_models: dict[str, VirtualModelSettings] = Field(
        default_factory=dict,
        description="your own model names (listed in /v1/models): name -> its channels and strategy",
    )
    difficulty: DifficultySettings = Field(default_factory=DifficultySettings)
    rules: list[RuleSettings] = Field(default_factory=list, description="scenario rules, first match wins")
    strategies: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="extra strategies: name -> {signal: weight}"
    )
    health: HealthSettings = Field(default_factory=HealthSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    on_budget: OnBudgetRule | None = Field(
        None, description="switch the active strategy at a share of a global budget; null: never"
    )
    limits: LimitSettings = Field(default_factory=LimitSettings)
    sticky: StickySettings = Field(default_factory=StickySettings)
    hedging: HedgeSettings = Field(default_factory=HedgeSettings)
    fast_streams: bool = Field(
        True,
        description="relay streamed chat answers from OpenAI-compatible channels as bytes (LiteLLM's pass-through)",
    )
    freeze_heap: bool = Field(
        True,
        description="once started, exempt the start-up heap (LiteLLM, the Router) from Python's full "
        "garbage-collector passes, which otherwise pause every request ~0.3 s at 1,000 deployments",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the record store; default: $ROUTER_DATABASE_URL, else SQLite"
    )
    records: bool = Field(True, description="write a record of every request to the store")
    journal_dir: str | None = Field(
        "data/journal",
        description="where each process journals its records until the store has them (a kill -9 "
        "loses none; replayed at the next start); null = no journal",
    )
    redis_url: str | None = Field(
        None, description="shared state for several replicas; default: $REDIS_URL, else in-process"
    )
    log_format: str = Field("json", pattern="^(json|text)$", description="our log lines: json or text")
    log_requests: bool = Field(True, description="one log line per request: id, channel, outcome")
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    prices: PriceSettings = Field(default_factory=PriceSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)

    def route_specs(self) -> dict[str, RouteSpec]:
        return {
            name.lower(): RouteSpec(
                name=name,
                query=parse_tag_query(v.query) if v.query else None,
                strategy=v.strategy,
                free_only=v.free_only,
                local_only=v.local_only,
                description=v.description,
                floor=v.quality_floor,
            )
            for name, v in self.virtual_models.items()
        }


def parse_settings(section: Mapping[str, Any] | None) -> RouterSettings:
    if section is None:
        return RouterSettings()
    if not isinstance(section, Mapping):
        raise SettingsError(f"{SECTION}: must be a mapping of settings, got {type(section).__name__}")
    try:
        settings = RouterSettings.model_validate(dict(section))
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except TagQueryError as error:
        raise SettingsError(f"{SECTION}.virtual_models: {error}") from None
    for name in settings.virtual_models:
        if name.lower() in BUILTIN_VIRTUAL_MODELS or name.lower().startswith(("tag:", "tags:")):
            raise SettingsError(
                f"{SECTION}.virtual_models.{name}: this name is reserved; choose another "
                f"(built-ins: {', '.join(BUILTIN_VIRTUAL_MODELS)})"
            )
    return settings


def settings_of(document: Any, config_path: str | Path) -> RouterSettings:
    """Our section of an already parsed config."""
    if not isinstance(document, Mapping):
        raise SettingsError(f"{config_path}: the config must be a YAML mapping")
    return parse_settings(document.get(SECTION))


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (SECTION, *item["loc"]))
        if item["type"] == "extra_forbidden":
            model = _model_at(item["loc"][:-1])
            known = ", ".join(field.alias or name for name, field in model.model_fields.items())
            problems.append(f"{where}: unknown setting (known settings: {known})")
        else:
            problems.append(f"{where}: {item['msg']}")
    return "invalid smart_router settings: " + "; ".join(problems)


def _model_at(path: Sequence[int | str]) -> type[BaseModel]:
    """The settings model an error path points into: `prices.sources.0` -> PriceSource."""
    model: type[BaseModel] = RouterSettings
    for part in path:
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        field = fields.get(str(part)) if isinstance(part, str) else None
        if field is not None:  # a list index or a mapping key leaves the model as it is
            model = _inner_model(field.annotation) or model
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None
