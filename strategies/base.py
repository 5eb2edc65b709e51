"""The strategy interface every ranking strategy implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from catalog.index import Positions, TagIndex
from strategies.difficulty import Difficulty

if TYPE_CHECKING:
    from strategies.observations import Observations


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a strategy may know about the request, computed once per request."""

    prompt_tokens: int = 0
    max_output_tokens: int = 0
    needs_tools: bool = False
    needs_vision: bool = False
    endpoint: str = "chat"  # chat | responses | messages | embeddings | completions
    thinking: bool = False  # extended thinking / reasoning asked for
    tool_names: tuple[str, ...] = ()
    difficulty: Difficulty | None = None  # tier and kind of the prompt (strategies/difficulty.py)

    @property
    def kind(self) -> str | None:
        return self.difficulty.kind if self.difficulty is not None else None


@dataclass(frozen=True, slots=True)
class Ranking:
    positions: Positions  # best first, at most the requested limit
    scores: npt.NDArray[np.float64]  # aligned with positions; higher is better
    signals: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    # (lowest, highest) raw cost and expected duration over every candidate ranked: what cost
    # and speed were normalised over (a record's ticket normalises a few candidates the same way)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


class Strategy(Protocol):
    name: str

    @property
    def weights(self) -> Mapping[str, float]: ...

    def rank(
        self,
        index: TagIndex,
        candidates: Positions,
        request: RequestFacts,
        limit: int,
        observations: Observations,
        all_signals: bool = False,
    ) -> Ranking: ...


def top_by_key(candidates: Positions, key: npt.NDArray[np.float64], limit: int) -> Positions:
    """The `limit` candidates with the smallest key, in key order (ties: the given order)."""
    if candidates.size > limit * 4:
        keys = key[candidates]
        part = np.argpartition(keys, limit - 1)[:limit]
        chosen = candidates[part]
    else:
        chosen = candidates
    return chosen[np.argsort(key[chosen], kind="stable")][:limit]
