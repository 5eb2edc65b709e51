"""What the router has observed per channel: latency, time to first token, tokens/s, outcomes.

Held in numpy arrays aligned with the tag index so that signals for thousands of candidates
are a few vector operations. Updated from LiteLLM's success/failure callbacks (off the
request's critical path); re-aligned by channel id when the catalogue is rebuilt.
"""

from __future__ import annotations

import numpy as np

from catalog.index import TagIndex
from strategies.learned_quality import LearnedQuality

# Priors used until a channel has been observed: a typical hosted model.
PRIOR_TTFT_MS = 800.0
PRIOR_TOKENS_PER_S = 50.0
EWMA_ALPHA = 0.2  # weight of the newest observation
RELIABILITY_WINDOW = 50.0  # outcomes remembered, roughly (exponential decay)
RELIABILITY_PRIOR_SUCCESSES = 9.0  # an unobserved channel counts as 9 of 10 good
RELIABILITY_PRIOR_TOTAL = 10.0


class Observations:
    def __init__(self, index: TagIndex, learned: LearnedQuality | None = None) -> None:
        size = index.size
        self.index = index
        # Quality per kind of request, from feedback: by channel id, so it outlives rebinds.
        self.learned = learned if learned is not None else LearnedQuality()
        self.ttft_ms = np.full(size, np.nan)
        self.latency_ms = np.full(size, np.nan)
        self.tokens_per_s = np.full(size, np.nan)
        self.successes = np.zeros(size)
        self.failures = np.zeros(size)
        self.outcomes = np.zeros(size, dtype=np.int64)  # outcomes observed (undecayed): 0 = prior only
        # Kept current on every event, so a request reads them without computing anything.
        self.ttft_or_prior = np.full(size, PRIOR_TTFT_MS)
        self.tokens_per_s_or_prior = np.full(size, PRIOR_TOKENS_PER_S)
        self.ms_per_token = np.full(size, 1000.0 / PRIOR_TOKENS_PER_S)
        self.rate = np.full(size, RELIABILITY_PRIOR_SUCCESSES / RELIABILITY_PRIOR_TOTAL)
        # 0..1: the share left of the channel's tightest rate-limit window (1 = none known).
        self.headroom = np.ones(size)

    def rebind(self, index: TagIndex) -> Observations:
        """The same observations over a new catalogue (by channel id)."""
        fresh = Observations(index, self.learned)
        for channel_id, new_position in index.position_by_id.items():
            old = self.index.position_by_id.get(channel_id)
            if old is None:
                continue
            for name in (
                "ttft_ms",
                "latency_ms",
                "tokens_per_s",
                "successes",
                "failures",
                "outcomes",
                "ttft_or_prior",
                "tokens_per_s_or_prior",
                "ms_per_token",
                "rate",
                "headroom",
            ):
                getattr(fresh, name)[new_position] = getattr(self, name)[old]
        return fresh

    def record_success(
        self, channel_id: str, latency_ms: float, ttft_ms: float | None, output_tokens: int
    ) -> None:
        position = self.index.position_by_id.get(channel_id)
        if position is None:
            return
        _ewma(self.latency_ms, position, latency_ms)
        if ttft_ms is not None and ttft_ms > 0:
            _ewma(self.ttft_ms, position, ttft_ms)
            self.ttft_or_prior[position] = self.ttft_ms[position]
        generation_s = (latency_ms - (ttft_ms or 0.0)) / 1000.0
        if output_tokens > 1 and generation_s > 0:
            _ewma(self.tokens_per_s, position, output_tokens / generation_s)
            self.tokens_per_s_or_prior[position] = self.tokens_per_s[position]
            self.ms_per_token[position] = 1000.0 / max(self.tokens_per_s[position], 1e-3)
        self._outcome(position, success=True)

    def record_failure(self, channel_id: str) -> None:
        position = self.index.position_by_id.get(channel_id)
        if position is not None:
            self._outcome(position, success=False)

    def _outcome(self, position: int, success: bool) -> None:
        self.outcomes[position] += 1
        decay = 1.0 - 1.0 / RELIABILITY_WINDOW
        self.successes[position] *= decay
        self.failures[position] *= decay
        if success:
            self.successes[position] += 1.0
        else:
            self.failures[position] += 1.0
        self.rate[position] = (self.successes[position] + RELIABILITY_PRIOR_SUCCESSES) / (
            self.successes[position] + self.failures[position] + RELIABILITY_PRIOR_TOTAL
        )

    def set_headroom(self, channel_id: str, share: float) -> None:
        position = self.index.position_by_id.get(channel_id)
        if position is not None:
            self.headroom[position] = share

    def success_rate(self) -> np.ndarray:
        return self.rate


def _ewma(values: np.ndarray, position: int, sample: float) -> None:
    current = values[position]
    values[position] = sample if np.isnan(current) else (1 - EWMA_ALPHA) * current + EWMA_ALPHA * sample
