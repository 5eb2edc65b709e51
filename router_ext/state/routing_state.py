"""Router state that changes at run time: the active strategy (shared through Redis when set)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from strategies.base import Strategy


class UnknownStrategyError(ValueError):
    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(f"unknown strategy {name!r}; valid strategies: {', '.join(available)}")
        self.available = available


class RoutingState:
    def __init__(self, strategies: Mapping[str, Strategy], active: str) -> None:
        self.strategies = dict(strategies)
        self._active = self.validated(active)
        self.updated_at = 0.0  # 0 = the configured default, older than any runtime switch
        self.reason = "config"

    @property
    def available(self) -> list[str]:
        return sorted(self.strategies)

    @property
    def active(self) -> str:
        return self._active

    def set_active(self, name: str, reason: str = "admin") -> str:
        self._active = self.validated(name)
        self.updated_at = time.time()
        self.reason = reason
        return self._active

    def adopt(self, name: str, updated_at: float) -> None:
        """A switch made on another replica; unknown names (a config mismatch) are ignored."""
        key = str(name).strip().lower()
        if key in self.strategies:
            self._active = key
            self.updated_at = updated_at
            self.reason = "shared"

    def validated(self, name: str) -> str:
        key = str(name).strip().lower()
        if key not in self.strategies:
            raise UnknownStrategyError(str(name), self.available)
        return key
