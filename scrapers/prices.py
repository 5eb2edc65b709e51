"""Prices as the router uses them: USD per token, per channel, with where and when they came from."""

from __future__ import annotations

from dataclasses import dataclass

PER_MILLION = 1_000_000


class LayoutChanged(ValueError):
    """A price source answered, but nothing in it could be read: keep the last good prices."""


@dataclass(frozen=True, slots=True)
class Price:
    input_per_token: float  # USD
    output_per_token: float  # USD
    source: str  # "openrouter", "siliconflow", "config"
    currency: str = "USD"  # what the source quoted in (converted here)

    @property
    def free(self) -> bool:
        return self.input_per_token == 0 and self.output_per_token == 0

    def per_million(self) -> tuple[float, float]:
        return (round(self.input_per_token * PER_MILLION, 6), round(self.output_per_token * PER_MILLION, 6))
