"""The quality floor a request's difficulty sets: channels below it are not candidates.

A prompt classified `complex` may go only to channels whose quality (for its kind, once
feedback has moved it) reaches the complex floor; `reasoning` also needs a thinking model when
one is eligible. Everything above the floor is ranked by the strategy as usual, so a free or
cheap channel wins whenever it is good enough, and failover never leaves the floor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from catalog.index import Mask, TagIndex
from strategies.filters import HardFilter
from strategies.quality import reasoning_mask

DEFAULT_FLOORS = {"simple": 0.0, "medium": 0.35, "complex": 0.55, "reasoning": 0.7}


@dataclass(frozen=True, slots=True)
class Floor:
    tier: str
    minimum: float
    kind: str | None = None
    qualities: np.ndarray | None = None  # per index position, for this kind
    needs_reasoning: bool = False  # reasoning tier: a thinking model when one is eligible
    stepped_from: str | None = None  # the tier it stepped down from, when allowed and needed

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"tier": self.tier, "minimum": self.minimum}
        if self.kind:
            described["kind"] = self.kind
        if self.needs_reasoning:
            described["needs_reasoning"] = True
        if self.stepped_from:
            described["stepped_down_from"] = self.stepped_from
        return described


class QualityReasons(Mapping[int, str]):
    """Each excluded channel's reason, written only when asked (explain, or an emptied list):
    thousands of channels below a floor would otherwise cost a string each per request."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor

    def __getitem__(self, position: int) -> str:
        assert self.floor.qualities is not None
        quality = float(self.floor.qualities[position])
        return f"quality {quality:.2f} is below the {self.floor.tier} floor {self.floor.minimum:g}"

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


def floor_filters(index: TagIndex, floor: Floor, eligible: Mask) -> list[HardFilter]:
    """The floor as hard filters over `eligible` (what the earlier filters kept)."""
    steps = []
    if floor.minimum > 0 and floor.qualities is not None:
        below = floor.qualities < floor.minimum
        if below.any():
            reason = f"quality below the {floor.tier} floor {floor.minimum:g}"
            steps.append(HardFilter("floor", below, reason, QualityReasons(floor)))
    if floor.needs_reasoning:
        thinking = reasoning_mask(index)
        # Only when a thinking model is among the candidates that pass the quality floor: the
        # rule narrows, it never empties a list that had channels good enough.
        passing = eligible & (floor.qualities >= floor.minimum if floor.qualities is not None else eligible)
        if (passing & thinking).any():
            steps.append(HardFilter("reasoning", ~thinking, "not a reasoning (thinking) model"))
    return steps
