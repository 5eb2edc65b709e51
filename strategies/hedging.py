"""When a slow first token is worth a second request, and onto which candidate.

A hedge starts the next candidate when the first one's first token (or, for a whole answer
when configured, the answer) is later than that channel usually is (its observed quantile of time to first token, never sooner than a floor); the first
to produce a token wins. Only speed strategies hedge, and by default only onto channels that
cost nothing (free or local), so a hedge never bills twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SAMPLES_KEPT = 128  # per channel: enough for a p90 that follows a change within minutes


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    enabled: bool = True
    strategies: frozenset[str] = frozenset({"speed_optimized"})
    quantile: float = 0.9
    floor_ms: float = 250.0
    min_samples: int = 5
    unobserved_ms: float = 1500.0  # a channel with fewer samples: its first token "should" come by then
    onto_paid: bool = False
    non_streams: bool = False  # also race whole answers (chat completions), by their latency
    # the quantile, capped at this multiple of the median: a tail near 1 - quantile cannot drag it
    max_over_median: float = 3.0

    def applies_to(self, strategy: str | None) -> bool:
        # A strategy degraded near a budget is named `speed_optimized@budget-1/4`.
        return self.enabled and (strategy or "").split("@", 1)[0] in self.strategies


class FirstTokenTimes:
    """The last SAMPLES_KEPT times to first token of each channel's streams, in ms."""

    def __init__(self, kept: int = SAMPLES_KEPT) -> None:
        self._kept = kept
        self._samples: dict[str, deque[float]] = {}

    def observe(self, channel_id: str, ttft_ms: float) -> None:
        if ttft_ms <= 0:
            return
        samples = self._samples.get(channel_id)
        if samples is None:
            samples = self._samples[channel_id] = deque(maxlen=self._kept)
        samples.append(ttft_ms)

    def quantile(self, channel_id: str, q: float, min_samples: int = 1) -> float | None:
        samples = self._samples.get(channel_id)
        if not samples or len(samples) < min_samples:
            return None
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def samples_key(channel_id: str, stream: bool) -> str:
    """Streams are timed to their first token, whole answers to their end: kept apart."""
    return channel_id if stream else f"{channel_id}\x00whole"


def hedge_delay_ms(
    policy: HedgePolicy, times: FirstTokenTimes, channel_id: str, stream: bool = True
) -> float:
    key = samples_key(channel_id, stream)
    expected = times.quantile(key, policy.quantile, policy.min_samples)
    median = times.quantile(key, 0.5, policy.min_samples)
    if expected is not None and median is not None and policy.max_over_median:
        expected = min(expected, policy.max_over_median * median)
    return max(policy.floor_ms, policy.unobserved_ms if expected is None else expected)


def hedge_target(
    candidates: Sequence[str], primary: str, costs_nothing: Callable[[str], bool], onto_paid: bool
) -> str | None:
    """The best-ranked candidate after the primary that a hedge may start."""
    after = list(candidates)
    if primary in after:
        after = after[after.index(primary) + 1 :]
    return next((c for c in after if c != primary and (onto_paid or costs_nothing(c))), None)
