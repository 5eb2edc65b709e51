"""Budget-aware degradation: as spend nears a budget, weight moves from quality to cost in steps,
instead of one switch at the limit. From `start` (a share of the budget, e.g. 0.7) to the
budget the move goes 1/steps, 2/steps, ... of the quality weight; at the budget all of it."""

from __future__ import annotations

import math

from strategies.base import Strategy
from strategies.weighted import WeightedStrategy


def degrade_step(share: float, start: float, steps: int) -> int:
    """0 below `start`; then 1..steps as the share goes from `start` to 1 (the budget)."""
    if share < start:
        return 0
    return min(steps, max(1, math.ceil((share - start) / (1.0 - start) * steps)))


def degraded(strategy: Strategy, step: int, steps: int) -> Strategy:
    """The strategy with step/steps of its quality weight moved to cost (named `name@budget-s/n`);
    a strategy without weights (priority) is left as it is."""
    if step <= 0 or not isinstance(strategy, WeightedStrategy):
        return strategy
    weights = dict(strategy.weights)
    moved = weights["quality"] * step / steps
    weights["quality"] -= moved
    weights["cost"] += moved
    return WeightedStrategy(f"{strategy.name}@budget-{step}/{steps}", weights)
