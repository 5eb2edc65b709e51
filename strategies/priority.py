"""Priority order: `model_info.order` (lower first), then model name, then deployment id.

Also the tie-break every scoring strategy falls back on, so the order is always deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from catalog.index import Positions, TagIndex
from strategies.base import Ranking, RequestFacts, top_by_key
from strategies.observations import Observations


class PriorityStrategy:
    name = "priority"

    @property
    def weights(self) -> Mapping[str, float]:
        return {}

    def rank(
        self,
        index: TagIndex,
        candidates: Positions,
        request: RequestFacts,
        limit: int,
        observations: Observations,
        all_signals: bool = False,
    ) -> Ranking:
        key = priority_rank(index)
        chosen = top_by_key(candidates, key, limit)
        return Ranking(chosen, -key[chosen])


def priority_rank(index: TagIndex) -> np.ndarray:
    """Rank of every channel in priority order, cached on the index (built once per catalogue)."""
    cached = index.cache.get("priority_rank")
    if cached is None:
        inf = float("inf")
        order = sorted(
            range(index.size),
            key=lambda p: (
                inf if index.channels[p].order is None else index.channels[p].order,
                index.channels[p].model_name,
                index.channels[p].id,
            ),
        )
        cached = np.empty(index.size, dtype=np.float64)
        cached[np.asarray(order, dtype=np.intp)] = np.arange(index.size, dtype=np.float64)
        index.cache["priority_rank"] = cached
    return cached
