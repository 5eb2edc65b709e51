"""Weighted strategies: the score is the weighted sum of the signals, and it decides the order.

Ties are broken by priority (model_info.order, then name, then id), so the order is
deterministic for equal scores.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from catalog.index import Positions, TagIndex
from strategies.base import Ranking, RequestFacts
from strategies.observations import Observations
from strategies.priority import priority_rank
from strategies.quality import quality_array
from strategies.signals import (
    SIGNALS,
    Range,
    compute_signals,
    cost_signal_ranged,
    expected_duration_ms,
    lower_is_better_dense_ranged,
)

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    #                   cost  free  local speed quality reliability headroom
    "cost_first": dict(zip(SIGNALS, (0.60, 0.10, 0.00, 0.10, 0.10, 0.10, 0.05), strict=True)),
    "free_first": dict(zip(SIGNALS, (0.20, 0.50, 0.00, 0.10, 0.10, 0.10, 0.15), strict=True)),
    "local_first": dict(zip(SIGNALS, (0.10, 0.00, 0.60, 0.10, 0.10, 0.10, 0.05), strict=True)),
    "balanced": dict(zip(SIGNALS, (0.25, 0.10, 0.05, 0.20, 0.25, 0.15, 0.10), strict=True)),
    "speed_optimized": dict(zip(SIGNALS, (0.15, 0.00, 0.00, 0.60, 0.10, 0.15, 0.05), strict=True)),
    "quality_optimized": dict(zip(SIGNALS, (0.10, 0.00, 0.00, 0.05, 0.70, 0.15, 0.05), strict=True)),
}


class WeightedStrategy:
    def __init__(self, name: str, weights: Mapping[str, float]) -> None:
        unknown = sorted(set(weights) - set(SIGNALS))
        if unknown:
            raise ValueError(
                f"strategy {name!r}: unknown signal(s) {', '.join(unknown)}; "
                f"signals are: {', '.join(SIGNALS)}"
            )
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"strategy {name!r}: weights must be >= 0")
        self.name = name
        self.weights = {s: float(weights.get(s, 0.0)) for s in SIGNALS}
        self._active = [s for s in SIGNALS if self.weights[s] > 0]

    def rank(
        self,
        index: TagIndex,
        candidates: Positions,
        request: RequestFacts,
        limit: int,
        observations: Observations,
        all_signals: bool = False,
    ) -> Ranking:
        ranges: dict[str, Range] = {}
        if all_signals:  # /routing/explain: every signal, kept for the answer
            signals = compute_signals(index, observations, candidates, request, SIGNALS)
            scores = np.zeros(candidates.size)
            for name in self._active:
                scores += self.weights[name] * signals[name]
        else:
            signals = {}
            scores = self._scores(index, candidates, request, observations, ranges)
        # Highest score first; equal scores in priority order. Equal up to float noise: the same
        # sum in another order differs in its last bit, which must not decide between channels.
        scores = np.round(scores, 12)
        if candidates.size > 4 * limit:  # only the top `limit` (and their ties) need sorting
            kth = np.partition(scores, candidates.size - limit)[candidates.size - limit]
            keep = np.flatnonzero(scores >= kth)
            order = keep[np.lexsort((priority_rank(index)[candidates[keep]], -scores[keep]))][:limit]
        else:
            order = np.lexsort((priority_rank(index)[candidates], -scores))[:limit]
        # Per-signal values are for /routing/explain; the request path needs only the ranking.
        detail = {name: values[order] for name, values in signals.items()}
        return Ranking(candidates[order], scores[order], detail, ranges)

    def _scores(
        self,
        index: TagIndex,
        candidates: Positions,
        request: RequestFacts,
        observations: Observations,
        ranges: dict[str, Range],
    ) -> np.ndarray:
        """The weighted sum on the request path. The signals that do not depend on the request
        (free, local, quality) are summed once per catalogue; with every channel a candidate
        (`auto`) the per-channel arrays are used as they are, without gathering. `ranges` gets
        the ranges cost and speed were normalised over (a record's ticket shows a few
        candidates' signals, normalised as here)."""
        everyone = candidates.size == index.size  # positions are unique: all of them
        static = self._static_part(index)
        scores = static.copy() if everyone else static[candidates]
        w = self.weights
        if w["cost"]:
            cost, ranges["cost"] = cost_signal_ranged(index, candidates, request, everyone)
            scores += w["cost"] * cost
        if w["speed"]:
            duration = expected_duration_ms(observations, candidates, request, everyone)
            speed, ranges["speed"] = lower_is_better_dense_ranged(duration)
            scores += w["speed"] * speed
        if w["quality"] and observations.learned.has(request.kind):
            # The static part holds the prior quality; feedback moved it for this kind.
            learned = observations.learned.quality_for(index, request.kind) - quality_array(index)
            scores += w["quality"] * (learned if everyone else learned[candidates])
        if w["reliability"]:
            rate = observations.success_rate()
            scores += w["reliability"] * (rate if everyone else rate[candidates])
        if w["headroom"]:
            room = observations.headroom
            scores += w["headroom"] * (room if everyone else room[candidates])
        return scores

    def _static_part(self, index: TagIndex) -> np.ndarray:
        w = self.weights
        key = f"static:{w['free']}:{w['local']}:{w['quality']}"
        cached = index.cache.get(key)
        if cached is None:
            cached = (
                w["free"] * index.free_f + w["local"] * index.local_f + w["quality"] * quality_array(index)
            )
            index.cache[key] = cached
        return cached
