"""From a virtual name to a ranked list of channels.

1. the tag query (and `auto:free` / `auto:local` restrictions) selects eligible channels;
2. the prompt's quality floor (strategies/floor.py), when the name asks for one, drops the
   channels not good enough for it;
3. hard filters drop channels that cannot serve this request (tools, vision, context), and
   the caller's `extra_exclusions` (breakers, quotas) drop channels that may not;
4. one strategy ranks what is left.
Every channel dropped in 1b-2 is kept with its reason, for `/routing/explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from catalog.channel import Channel
from catalog.index import Mask, TagIndex
from catalog.virtual import RouteSpec
from strategies.base import Ranking, RequestFacts, Strategy
from strategies.filters import HardFilter, hard_filters
from strategies.floor import Floor, floor_filters
from strategies.observations import Observations


class NoChannelError(LookupError):
    """No channel can serve the request; `kind` is the error type clients see."""

    def __init__(
        self,
        kind: str,
        message: str,
        status: int = 404,
        retry_at: float | None = None,
        details: list[dict[str, str]] | None = None,
        filter: str | None = None,
    ) -> None:
        super().__init__(message)
        self.filter = filter  # the step that emptied the list
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_at = retry_at  # epoch s of the soonest channel back, when known
        self.details = details or []


# Filters a request asked for itself (OpenRouter's `provider` fields, a model id, a variant): when
# one leaves nothing, the answer names it (404), not "unavailable right now".
ASKED = ("provider.", "model", "variant")


@dataclass(frozen=True, slots=True)
class Exclusion:
    channel: Channel
    filter: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    spec: RouteSpec
    strategy: Strategy
    ranked: tuple[Channel, ...]
    scores: tuple[float, ...]
    eligible: int
    ranking: Ranking
    excluded: tuple[Exclusion, ...] = field(default_factory=tuple)
    floor: Floor | None = None
    ranking_request: RequestFacts | None = None  # what was known of the request (explain shows it)
    # channels each filter dropped, by filter name: counted on the request path too (cheap), where
    # `excluded` lists them only for explain
    excluded_counts: dict[str, int] = field(default_factory=dict)


def decide(
    index: TagIndex,
    spec: RouteSpec,
    strategy: Strategy,
    request: RequestFacts,
    limit: int,
    observations: Observations,
    extra_exclusions: Sequence[HardFilter] = (),
    explain: bool = False,
    access: HardFilter | None = None,
    floor: Floor | None = None,
    asked: Sequence[HardFilter] = (),
) -> Decision:
    """`asked`: filters the request chose (OpenRouter's model id and provider fields): the first
    of them says what the name covers, the rest narrow it after what the caller may use."""
    mask = index.mask(spec.query) if spec.query is not None else index.all.copy()
    if not mask.any():
        raise _no_match(index, spec)
    excluded: list[Exclusion] = []
    counts: dict[str, int] = {}
    scope = [f for f in asked if f.name == "model"]
    # What the caller may use comes first: "not allowed" must not read as "unavailable".
    steps: list[HardFilter] = [*scope, access] if access is not None else list(scope)
    if spec.free_only:
        steps.append(HardFilter("free_only", ~index.free, "not verified free (price 0)"))
    if spec.local_only:
        steps.append(HardFilter("local_only", ~index.local, "not a local channel"))
    steps += [f for f in asked if f.name != "model"]
    _apply(index, spec, steps, mask, excluded, counts, explain, floor)
    later: list[HardFilter] = floor_filters(index, floor, mask) if floor is not None else []
    later += hard_filters(index, request)
    later += extra_exclusions
    _apply(index, spec, later, mask, excluded, counts, explain, floor)
    candidates = np.flatnonzero(mask)
    ranking = strategy.rank(index, candidates, request, limit, observations, all_signals=explain)
    return Decision(
        spec=spec,
        strategy=strategy,
        ranked=tuple([index.channels[p] for p in ranking.positions.tolist()]),
        scores=tuple(ranking.scores.tolist()),
        eligible=int(candidates.size),
        ranking=ranking,
        excluded=tuple(excluded),
        floor=floor,
        ranking_request=request,
        excluded_counts=counts,
    )


def _apply(
    index: TagIndex,
    spec: RouteSpec,
    steps: Sequence[HardFilter],
    mask: Mask,
    excluded: list[Exclusion],
    counts: dict[str, int],
    explain: bool,
    floor: Floor | None,
) -> None:
    """Each filter in turn narrows `mask` in place; the one that would empty it raises. `counts`
    gets how many each filter dropped."""
    for step in steps:
        rejected = mask & step.rejects
        dropped = int(np.count_nonzero(rejected))
        if not dropped:
            continue
        counts[step.name] = counts.get(step.name, 0) + dropped
        emptied = int(np.count_nonzero(mask)) == dropped
        if explain or emptied:
            excluded += [
                Exclusion(index.channels[p], step.name, step.reasons.get(int(p), step.reason))
                for p in np.flatnonzero(rejected)
            ]
        mask &= ~rejected
        if emptied:
            error = _emptied_by(index, spec, step, excluded, rejected, floor)
            error.filter = step.name
            raise error


def _emptied_by(
    index: TagIndex,
    spec: RouteSpec,
    step: HardFilter,
    excluded: list[Exclusion],
    rejected: Mask,
    floor: Floor | None = None,
) -> NoChannelError:
    if step.name == "floor" and floor is not None:
        best = ""
        if floor.qualities is not None:
            positions = np.flatnonzero(rejected)
            top = int(positions[np.argmax(floor.qualities[positions])])
            best = f" (the best, {index.channels[top].id}, has {floor.qualities[top]:.2f})"
        return NoChannelError(
            "no_channel_meets_floor",
            f"no channel matching {spec.name!r} reaches the quality floor {floor.minimum:g} of a "
            f"{floor.tier} prompt{best}; add a stronger channel, set its model_info.quality, lower "
            f"smart_router.difficulty.floors.{floor.tier}, or set smart_router.difficulty.step_down: true",
            404,
        )
    if step.name == "free_only":
        return NoChannelError(
            "no_free_channel",
            f"no verified free channel for {spec.name!r}: a channel is free when its price is 0 "
            "in the config or a price source (a ':free' name alone is not proof)",
        )
    if step.name.startswith(ASKED):
        return NoChannelError(
            "no_channel_left",
            f"no channel for {spec.name!r} is left after {step.name}: each {step.reason}",
            404,
        )
    if step.name == "access":
        return NoChannelError(
            "model_not_allowed", f"no channel matching {spec.name!r} is allowed: {step.reason}", 403
        )
    if step.name == "local_only":
        return NoChannelError("no_local_channel", f"no local channel for {spec.name!r}")
    if step.name in ("tools", "vision", "context"):
        return NoChannelError(
            "no_capable_channel",
            f"every channel matching {spec.name!r} was excluded by the {step.name} filter: "
            f"each {step.reason}",
            400,
        )
    if step.name == "mode":
        return NoChannelError(
            "no_capable_channel",
            f"no channel matching {spec.name!r} serves this endpoint: each is {step.reason}",
            400,
        )
    times = [step.until[int(p)] for p in np.flatnonzero(rejected) if int(p) in step.until]
    finite = [t for t in times if t != float("inf")]
    return NoChannelError(
        "all_channels_failed",
        f"every channel matching {spec.name!r} is unavailable right now ({step.reason}); "
        "see details or GET /routing/channels",
        503,
        retry_at=min(finite) if finite else None,
        details=[{"channel": e.channel.id, "reason": e.reason} for e in excluded if e.filter == step.name],
    )


def _no_match(index: TagIndex, spec: RouteSpec) -> NoChannelError:
    if index.size == 0:
        return NoChannelError(
            "no_channels",
            "no channel is configured: add a model to model_list in the config "
            "(or set a provider key such as OPENROUTER_API_KEY)",
            503,
        )
    query = spec.query
    unknown = index.unknown_tags(query) if query is not None else []
    if unknown:
        hints = []
        for tag in unknown:
            close = index.closest_tags(tag)
            hints.append(
                f"'{tag}' (closest tags: {', '.join(close)})" if close else f"'{tag}' (no similar tag)"
            )
        return NoChannelError(
            "tag_not_found", f"no channel carries the tag {'; '.join(hints)}; see GET /routing/tags"
        )
    bounds = " within the size bounds" if query is not None and query.has_size_bounds else ""
    return NoChannelError(
        "tag_not_found",
        f"no channel matches {spec.name!r}: each tag exists, but no channel carries them all{bounds}; "
        "see GET /routing/tags",
    )
