"""One routing decision: a virtual name resolved, filtered (access, health, quotas) and ranked.

Memory only: the tag index, breakers, quotas and key masks are all in this process.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from accounting.quotas import QuotaBook, next_reset
from catalog.index import TagIndex
from catalog.query import TagQueryError
from catalog.virtual import RouteSpec, is_virtual_name, resolve_virtual_name
from router_ext.catalogue.catalogue import Catalogue
from router_ext.client_keys import ClientKey, KeyRing
from router_ext.clock import utc_now
from router_ext.errors import router_error
from router_ext.request_facts import request_facts, requested_strategy, requested_tier
from router_ext.settings import RouterSettings
from router_ext.state.channel_health import ChannelHealth
from router_ext.state.rate_windows import RateWindows
from router_ext.state.routing_state import RoutingState, UnknownStrategyError
from strategies.base import RequestFacts, Strategy
from strategies.budget_degrade import degrade_step, degraded
from strategies.decision import Decision, NoChannelError, decide
from strategies.difficulty import TIER_RANK, step_down
from strategies.filters import HardFilter
from strategies.floor import Floor

# Filters whose verdict a lower floor cannot change.
NOT_THE_FLOOR = (None, "access", "free_only", "local_only", "tools", "vision", "context", "mode")


class Decider:
    def __init__(
        self,
        settings: RouterSettings,
        virtual_models: Mapping[str, RouteSpec],
        state: RoutingState,
        catalogue: Catalogue,
        health: ChannelHealth,
        quotas: QuotaBook,
        keys: KeyRing,
        rate_windows: RateWindows | None = None,
        budget_share: Callable[[], float] | None = None,
    ) -> None:
        """`budget_share`: the highest share of a global budget spent (0..1+)."""
        self.settings = settings
        self.rate_windows = rate_windows
        self.budget_share = budget_share
        self._degraded: dict[tuple[str, int], Strategy] = {}
        self.virtual_models = virtual_models
        self.state = state
        self.catalogue = catalogue
        self.health = health
        self.quotas = quotas
        self.keys = keys
        self._modes: dict[tuple[int, str], HardFilter | None] = {}

    def decide(
        self,
        model: str,
        data: Mapping[str, Any],
        explain: bool = False,
        prompt_tokens: int | None = None,
        facts: RequestFacts | None = None,
        client_key: ClientKey | None = None,
        strategy: str | None = None,
        spec: RouteSpec | None = None,
        narrow: Sequence[HardFilter] = (),
    ) -> Decision | None:
        """The decision for a virtual name, None for a concrete one; raises ProxyException.
        `strategy`: a rule's; the request's own choice still wins. `spec` and `narrow`: a route
        the caller built (OpenRouter's fields: a model id's channels, provider filters), ranked
        as a virtual name is, after what the client key allows."""
        if spec is None:
            try:
                spec = resolve_virtual_name(model, self.virtual_models)
            except TagQueryError as error:
                raise router_error(
                    400, "invalid_tag_query", str(error), param="model", router_status="tag-query-invalid"
                ) from None
            access = self.access_filter(client_key, model, spec is None)
            if spec is None:
                return None
        else:
            access = self.access_filter(client_key, model, False)
        try:
            strategy_name = self.state.validated(
                requested_strategy(data) or strategy or spec.strategy or self.state.active
            )
        except UnknownStrategyError as error:
            raise router_error(
                400, "invalid_strategy", str(error), param="strategy", router_status="strategy-invalid"
            ) from None
        if facts is None:
            facts = request_facts(data, self.settings.default_max_tokens)
        if prompt_tokens is not None:
            facts = dataclasses.replace(facts, prompt_tokens=prompt_tokens)
        index = self.catalogue.index()
        exclusions = [
            f
            for f in (
                self.mode_filter(index, facts.endpoint),
                self.health.exclusions(index, time.time()),
                self.quota_filter(index),
                self.rate_windows.exclusion(index) if self.rate_windows is not None else None,
            )
            if f
        ]
        floor = self.floor(index, spec, facts, data)
        while True:
            try:
                return decide(
                    index,
                    spec,
                    self.effective_strategy(strategy_name),
                    facts,
                    index.size if explain else self.settings.max_candidates,
                    self.catalogue.observations,
                    extra_exclusions=exclusions,
                    explain=explain,
                    access=access,
                    floor=floor,
                    asked=narrow,
                )
            except NoChannelError as error:
                lower = self._step_down(floor, error)
                if lower is None:
                    raise no_channel(error) from None
                floor = lower

    def floor(
        self, index: TagIndex, spec: RouteSpec, facts: RequestFacts, data: Mapping[str, Any]
    ) -> Floor | None:
        """The quality floor of this prompt's tier, for a name that asks for one."""
        if not spec.floor or facts.difficulty is None:
            return None
        tier = facts.difficulty.tier
        try:
            asked = requested_tier(data)
        except ValueError as error:
            raise router_error(
                400, "invalid_tier", str(error), param="x-router-tier", router_status="tier-invalid"
            ) from None
        if asked is not None and TIER_RANK[asked] > TIER_RANK[tier]:
            tier = asked  # a client may ask for more than its prompt needs, never for less
        return self._floor_of(index, tier, facts.difficulty.kind)

    def _floor_of(self, index: TagIndex, tier: str, kind: str, stepped_from: str | None = None) -> Floor:
        difficulty = self.settings.difficulty
        return Floor(
            tier=tier,
            minimum=difficulty.floors[tier],  # type: ignore[index]
            kind=kind,
            qualities=self.catalogue.observations.learned.quality_for(index, kind),
            needs_reasoning=tier == "reasoning" and difficulty.reasoning_channels,
            stepped_from=stepped_from,
        )

    def _step_down(self, floor: Floor | None, error: NoChannelError) -> Floor | None:
        """One tier down, when the configuration allows it and the floor (or the health of what
        meets it) is what left nothing: never for what the caller may not use or what no
        channel can do."""
        if (
            floor is None
            or floor.stepped_from is not None
            or not self.settings.difficulty.step_down
            or error.filter in NOT_THE_FLOOR
        ):
            return None
        lower = step_down(floor.tier)
        if lower is None:
            return None
        return self._floor_of(self.catalogue.index(), lower, floor.kind or "chat", stepped_from=floor.tier)

    def effective_strategy(self, name: str) -> Strategy:
        """The strategy, with weight moved from quality to cost as spend nears a global budget."""
        strategy = self.state.strategies[name]
        budgets = self.settings.budgets
        if budgets.degrade_from is None or self.budget_share is None:
            return strategy
        step = degrade_step(self.budget_share(), budgets.degrade_from, budgets.degrade_steps)
        if step == 0:
            return strategy
        key = (name, step)
        found = self._degraded.get(key)
        if found is None:
            found = self._degraded[key] = degraded(strategy, step, budgets.degrade_steps)
        return found

    def is_virtual(self, model: str) -> bool:
        return is_virtual_name(model, self.virtual_models)  # a malformed tag query is ours too (400)

    def access_filter(self, key: ClientKey | None, model: str, concrete: bool) -> HardFilter | None:
        """What a client key may use: a name on its list as is; a virtual name narrowed to
        the channels its list allows; any other concrete name refused (403)."""
        if key is None or key.models.unrestricted or key.models.names_model(model):
            return None
        index = self.catalogue.index()
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

    def mode_filter(self, index: TagIndex, endpoint: str) -> HardFilter | None:
        """An embedding model answers embeddings only, a chat model everything else; a channel
        whose upstream has no embeddings path is not asked again."""
        key = (self.catalogue.generation, endpoint)
        cached = self._modes.get(key)
        if cached is None:
            if len(self._modes) > 16:
                self._modes.clear()
            cached = self._modes[key] = _mode_filter(index, endpoint, self.catalogue.missing)
        return cached

    def quota_filter(self, index: TagIndex) -> HardFilter | None:
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


def _mode_filter(index: TagIndex, endpoint: str, missing: set[tuple[str, str]]) -> HardFilter | None:
    if endpoint == "embeddings":
        rejects = np.array(
            [c.mode != "embedding" or (c.id, "embeddings") in missing for c in index.channels], dtype=np.bool_
        )
        reasons = {
            p: "its upstream has no embeddings endpoint"
            for p, c in enumerate(index.channels)
            if c.mode == "embedding" and (c.id, "embeddings") in missing
        }
        return HardFilter("mode", rejects, "not an embedding model (model_info.mode)", reasons)
    rejects = np.array([c.mode == "embedding" for c in index.channels], dtype=np.bool_)
    reasons = {}
    if endpoint == "completions":  # no bridge for legacy completions: a channel without them is not asked
        for p, c in enumerate(index.channels):
            if (c.id, "completions") in missing:
                rejects[p] = True
                reasons[p] = "its upstream has no /v1/completions endpoint"
    if not rejects.any():
        return None
    return HardFilter("mode", rejects, "an embedding model: it answers /v1/embeddings only", reasons)


def no_channel(error: NoChannelError) -> Exception:
    exception = router_error(
        error.status, error.kind, error.message, param="model", router_status=error.kind.replace("_", "-")
    )
    if error.retry_at is not None:
        exception.headers["retry-after"] = str(max(1, math.ceil(error.retry_at - time.time())))
    if error.details:
        exception.provider_specific_fields = {"channels": error.details}
    return exception
