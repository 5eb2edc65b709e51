"""Router state that changes at run time (the active strategy). In-process for now."""

from __future__ import annotations

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

    @property
    def available(self) -> list[str]:
        return sorted(self.strategies)

    @property
    def active(self) -> str:
        return self._active

    def set_active(self, name: str) -> str:
        self._active = self.validated(name)
        return self._active

    def validated(self, name: str) -> str:
        key = str(name).strip().lower()
        if key not in self.strategies:
            raise UnknownStrategyError(str(name), self.available)
        return key
