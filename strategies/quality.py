"""Quality prior per channel, 0..1: configured, else from parameter count and context window."""

from __future__ import annotations

import math

import numpy as np

from catalog.channel import Channel
from catalog.index import TagIndex

DEFAULT_QUALITY = 0.5


def channel_quality(channel: Channel) -> float:
    if channel.quality is not None:
        return min(max(channel.quality, 0.0), 1.0)
    parts: list[tuple[float, float]] = []
    if channel.params_b:
        # 1b -> 0, 10b -> 1/3, 100b -> 2/3, 1000b -> 1
        parts.append((0.75, _clamp(math.log10(max(channel.params_b, 1e-3)) / 3.0)))
    if channel.context_tokens:
        # 4k -> 0, 1m -> 1
        parts.append((0.25, _clamp(math.log2(channel.context_tokens / 4096) / 8.0)))
    if not parts:
        return DEFAULT_QUALITY
    total_weight = sum(weight for weight, _ in parts)
    return 0.2 + 0.8 * sum(weight * value for weight, value in parts) / total_weight


def quality_array(index: TagIndex) -> np.ndarray:
    cached = index.cache.get("quality")
    if cached is None:
        cached = np.asarray([channel_quality(c) for c in index.channels], dtype=np.float64)
        index.cache["quality"] = cached
    return cached


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)
