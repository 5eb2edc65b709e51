"""Quality learned per kind of request from feedback: a Beta posterior per (kind, channel).

The prior is the channel's quality (config, table or size guess) counted as PRIOR_WEIGHT
scores; each feedback score s in 0..1 adds s to the good side and 1 - s to the bad side. The
posterior mean is the channel's quality for that kind: a channel that keeps failing code
prompts sinks below the code floor while its chat quality stays where it was.

Evidence is kept by channel id (it outlives catalogue rebuilds) and is additive, so replicas
share it by adding up what each has heard (router_ext/state/quality_feedback.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from catalog.index import TagIndex
from strategies.quality import quality_array

PRIOR_WEIGHT = 20.0  # the prior counts as this many scores: one bad answer alone moves little


@dataclass(frozen=True, slots=True)
class Posterior:
    prior: float
    good: float
    bad: float

    @property
    def evidence(self) -> float:
        return self.good + self.bad

    @property
    def mean(self) -> float:
        return (self.prior * PRIOR_WEIGHT + self.good) / (PRIOR_WEIGHT + self.good + self.bad)

    def as_dict(self) -> dict[str, float]:
        return {
            "prior": round(self.prior, 4),
            "good": round(self.good, 3),
            "bad": round(self.bad, 3),
            "result": round(self.mean, 4),
        }


class LearnedQuality:
    def __init__(self) -> None:
        # kind -> channel id -> [good, bad]
        self._evidence: dict[str, dict[str, list[float]]] = {}
        self.version = 0
        self._arrays: dict[tuple[int, str], tuple[int, np.ndarray]] = {}

    def add(self, kind: str, channel_id: str, score: float) -> None:
        score = min(max(score, 0.0), 1.0)
        self.add_totals(kind, channel_id, score, 1.0 - score)

    def add_totals(self, kind: str, channel_id: str, good: float, bad: float) -> None:
        pair = self._evidence.setdefault(kind, {}).setdefault(channel_id, [0.0, 0.0])
        pair[0] += good
        pair[1] += bad
        self.version += 1

    def replace(self, totals: Iterable[tuple[str, str, float, float]]) -> None:
        """Every (kind, channel id, good, bad) known, as shared state or the store holds them."""
        evidence: dict[str, dict[str, list[float]]] = {}
        for kind, channel_id, good, bad in totals:
            evidence.setdefault(kind, {})[channel_id] = [good, bad]
        if evidence != self._evidence:
            self._evidence = evidence
            self.version += 1

    def totals(self) -> Mapping[str, Mapping[str, list[float]]]:
        return self._evidence

    def has(self, kind: str | None) -> bool:
        return kind is not None and bool(self._evidence.get(kind))

    def posterior(self, kind: str, channel_id: str, prior: float) -> Posterior:
        good, bad = self._evidence.get(kind, {}).get(channel_id, (0.0, 0.0))
        return Posterior(prior, good, bad)

    def quality_for(self, index: TagIndex, kind: str | None) -> np.ndarray:
        """Every channel's quality for this kind (the prior where nothing was heard)."""
        base = quality_array(index)
        if not self.has(kind):
            return base
        assert kind is not None
        key = (id(index), kind)
        cached = self._arrays.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        values = base.copy()
        for channel_id, (good, bad) in self._evidence[kind].items():
            position = index.position_by_id.get(channel_id)
            if position is not None:
                values[position] = (base[position] * PRIOR_WEIGHT + good) / (PRIOR_WEIGHT + good + bad)
        if len(self._arrays) > 64:
            self._arrays.clear()
        self._arrays[key] = (self.version, values)
        return values
