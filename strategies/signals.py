"""The six signals, each 0..1 per candidate (higher = better for that idea).

cost        1 for the cheapest estimated cost of this request among the candidates, 0 for the
            dearest (linear in USD); an unknown price counts as dearest.
free        1 only for a verified price of 0 (config or a price source). A `:free` name
            without a price is NOT free: it scores 0 here and is left out of `auto:free`.
local       1 for a local channel (model_info.local, else loopback/private/Ollama/LM Studio).
speed       1 for the shortest expected duration of this request (time to first token +
            output tokens / tokens per second, moving averages; priors until observed).
quality     model_info.quality, else the sourced table of model families, else derived from
            parameter count and context window; moved per kind of request by feedback.
reliability recent success rate (exponentially decayed, with a prior of 0.9).
headroom    the share left of the channel's tightest rate-limit window (announced by the
            upstream or configured): 1 when none is known or the window has reset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from catalog.index import TagIndex
from strategies.base import RequestFacts
from strategies.cost import estimated_cost, prices_unknown
from strategies.observations import Observations

SIGNALS = ("cost", "free", "local", "speed", "quality", "reliability", "headroom")


Range = tuple[float, float]  # (lowest, highest) of a raw value over a decision's candidates


def compute_signals(
    index: TagIndex,
    observations: Observations,
    candidates: np.ndarray,
    request: RequestFacts,
    names: Iterable[str] = SIGNALS,
    ranges: Mapping[str, Range] | None = None,
) -> dict[str, np.ndarray]:
    """`ranges`: the raw cost and duration ranges of the candidates a decision ranked
    (`Ranking.ranges`), so that a few of them are normalised as they were among all of them."""
    signals: dict[str, np.ndarray] = {}
    ranges = ranges or {}
    for name in names:
        if name == "cost":
            if "cost" in ranges:
                cost = estimated_cost(index, candidates, request.prompt_tokens, request.max_output_tokens)
                signals[name] = lower_is_better_within(cost, *ranges["cost"])
            else:
                signals[name] = cost_signal(index, candidates, request)
        elif name == "free":
            signals[name] = index.free_f[candidates]
        elif name == "local":
            signals[name] = index.local_f[candidates]
        elif name == "speed":  # prior-filled: never NaN
            duration = expected_duration_ms(observations, candidates, request)
            signals[name] = (
                lower_is_better_within(duration, *ranges["speed"])
                if "speed" in ranges
                else lower_is_better_dense(duration)
            )
        elif name == "quality":
            signals[name] = observations.learned.quality_for(index, request.kind)[candidates]
        elif name == "reliability":
            signals[name] = observations.success_rate()[candidates]
        elif name == "headroom":
            signals[name] = observations.headroom[candidates]
        else:
            raise KeyError(f"unknown signal {name!r}; signals are: {', '.join(SIGNALS)}")
    return signals


def cost_signal(
    index: TagIndex, candidates: np.ndarray, request: RequestFacts, everyone: bool = False
) -> np.ndarray:
    return cost_signal_ranged(index, candidates, request, everyone)[0]


def cost_signal_ranged(
    index: TagIndex, candidates: np.ndarray, request: RequestFacts, everyone: bool = False
) -> tuple[np.ndarray, Range]:
    """The cost signal and the range of estimated costs it was normalised over."""
    cost = estimated_cost(index, candidates, request.prompt_tokens, request.max_output_tokens, everyone)
    return _lower_is_better(cost) if prices_unknown(index) else lower_is_better_dense_ranged(cost)


def expected_duration_ms(
    observations: Observations, candidates: np.ndarray, request: RequestFacts, everyone: bool = False
) -> np.ndarray:
    """`everyone`: the candidates are all channels, so no gather is needed."""
    ttft = observations.ttft_or_prior if everyone else observations.ttft_or_prior[candidates]
    per_token = observations.ms_per_token if everyone else observations.ms_per_token[candidates]
    return ttft + request.max_output_tokens * per_token


def lower_is_better_dense(values: np.ndarray) -> np.ndarray:
    """`_lower_is_better` for values known to hold no NaN: half the array passes."""
    return lower_is_better_dense_ranged(values)[0]


def lower_is_better_dense_ranged(values: np.ndarray) -> tuple[np.ndarray, Range]:
    low, high = values.min(), values.max()
    span = high - low
    if span <= 0:
        return np.ones(values.shape), (float(low), float(high))
    return (low + span - values) / span, (float(low), float(high))


def lower_is_better_within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Normalised against a range found before (over more candidates): the lowest scores 1, the
    highest 0, clipped to 0..1 (the values may have moved since); NaN scores 0."""
    if math.isnan(low):
        return np.zeros(values.shape)
    span = high - low
    if span <= 0:
        return np.where(np.isnan(values), 0.0, np.where(values <= low, 1.0, 0.0))
    result = np.clip((high - values) / span, 0.0, 1.0)
    result[np.isnan(result)] = 0.0
    return result


def _lower_is_better(values: np.ndarray) -> tuple[np.ndarray, Range]:
    """Min-max normalise so the lowest value scores 1 and the highest 0; NaN scores 0. With the
    range of the known values (NaN, NaN when none is known)."""
    # fmin / fmax skip NaN, so one pass each finds the range of the known values.
    low = np.fmin.reduce(values)
    if np.isnan(low):
        return np.zeros(values.shape), (math.nan, math.nan)
    high = np.fmax.reduce(values)
    span = high - low
    if span <= 0:
        return np.where(np.isnan(values), 0.0, 1.0), (float(low), float(high))
    result = (low + span - values) / span
    result[np.isnan(result)] = 0.0
    return result, (float(low), float(high))
