"""The strategies a router knows: the six built-ins, `priority`, and those defined in config."""

from __future__ import annotations

from collections.abc import Mapping

from strategies.base import Strategy
from strategies.priority import PriorityStrategy
from strategies.weighted import DEFAULT_WEIGHTS, WeightedStrategy


def build_strategies(extra: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Strategy]:
    """Raises ValueError naming the strategy and signal when a configured weight is wrong."""
    strategies: dict[str, Strategy] = {"priority": PriorityStrategy()}
    for name, defaults in DEFAULT_WEIGHTS.items():
        strategies[name] = WeightedStrategy(name, defaults)
    for name, configured in (extra or {}).items():
        key = name.strip().lower()
        strategies[key] = WeightedStrategy(key, configured)
    return strategies
