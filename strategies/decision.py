"""From a virtual name to a ranked list of channels: eligibility, then one strategy's ranking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.channel import Channel
from catalog.index import Mask, TagIndex
from catalog.virtual import RouteSpec
from strategies.base import RequestFacts, Strategy


class NoChannelError(LookupError):
    """No channel can serve the request; `kind` is the error type clients see."""

    def __init__(self, kind: str, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Decision:
    spec: RouteSpec
    strategy: str
    ranked: tuple[Channel, ...]
    scores: tuple[float, ...]
    eligible: int


def eligible_mask(index: TagIndex, spec: RouteSpec) -> Mask:
    mask = index.mask(spec.query) if spec.query is not None else index.all.copy()
    if spec.free_only:
        mask &= index.free
    if spec.local_only:
        mask &= index.local
    return mask


def decide(
    index: TagIndex, spec: RouteSpec, strategy: Strategy, request: RequestFacts, limit: int
) -> Decision:
    candidates = np.flatnonzero(eligible_mask(index, spec))
    if candidates.size == 0:
        raise _explain_empty(index, spec)
    ranking = strategy.rank(index, candidates, request, limit)
    return Decision(
        spec=spec,
        strategy=strategy.name,
        ranked=tuple(index.channels[p] for p in ranking.positions),
        scores=tuple(float(s) for s in ranking.scores),
        eligible=int(candidates.size),
    )


def _explain_empty(index: TagIndex, spec: RouteSpec) -> NoChannelError:
    if index.size == 0:
        return NoChannelError(
            "no_channels",
            "no channel is configured: add a model to model_list in the config "
            "(or set a provider key such as OPENROUTER_API_KEY)",
            503,
        )
    query = spec.query
    if query is not None:
        unknown = index.unknown_tags(query)
        if unknown:
            hints = []
            for tag in unknown:
                close = index.closest_tags(tag)
                hint = f"closest tags: {', '.join(close)}" if close else "no similar tag"
                hints.append(f"'{tag}' ({hint})")
            return NoChannelError(
                "tag_not_found",
                f"no channel carries the tag {'; '.join(hints)}; see GET /routing/tags",
            )
        if not index.mask(query).any():
            return NoChannelError(
                "tag_not_found",
                f"no channel matches {spec.name!r}: every tag exists, but no channel has them "
                "all within the size bounds; see GET /routing/tags",
            )
    if spec.free_only:
        return NoChannelError(
            "no_free_channel",
            f"no verified free channel for {spec.name!r}: a channel is free when its price is "
            "0 in the config or a price source (a ':free' name alone is not proof)",
        )
    return NoChannelError("no_local_channel", f"no local channel for {spec.name!r}")
