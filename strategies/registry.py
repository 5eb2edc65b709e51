"""The strategies a router knows: the built-ins plus those defined in config."""

from __future__ import annotations

from collections.abc import Mapping

from strategies.base import Strategy
from strategies.priority import PriorityStrategy


def build_strategies(extra: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Strategy]:
    strategies: dict[str, Strategy] = {"priority": PriorityStrategy()}
    return strategies
