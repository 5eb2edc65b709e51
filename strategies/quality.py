"""Quality prior per channel, 0..1: the config's `model_info.quality`, else the sourced table of
model families (catalog/model_quality.json, matched by tags), else a guess from parameter count
and context window."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog.channel import Channel
from catalog.index import Mask, TagIndex

DEFAULT_QUALITY = 0.5
TABLE_PATH = Path(__file__).resolve().parents[1] / "catalog" / "model_quality.json"
# Names that say "thinking model" when nothing declares it (model_info.supports_reasoning wins).
REASONING_TAGS = frozenset({"r1", "qwq", "o1", "o3", "o4", "thinking", "reasoner", "reasoning"})


@dataclass(frozen=True, slots=True)
class TableRow:
    match: tuple[str, ...]
    quality: float
    model: str
    reasoning: bool


def channel_quality(channel: Channel) -> float:
    if channel.quality is not None:
        return min(max(channel.quality, 0.0), 1.0)
    row = table_row(channel.tags)
    if row is not None:
        return row.quality
    return size_quality(channel)


def quality_source(channel: Channel) -> str:
    """Where the channel's prior comes from, for explain."""
    if channel.quality is not None:
        return "config"
    row = table_row(channel.tags)
    if row is not None:
        return f"table:{row.model}"
    return "size" if channel.params_b or channel.context_tokens else "default"


def size_quality(channel: Channel) -> float:
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


def is_reasoning(channel: Channel) -> bool:
    if channel.reasoning is not None:
        return channel.reasoning
    row = table_row(channel.tags)
    if row is not None and row.reasoning:
        return True
    return any(tag in REASONING_TAGS for tag in channel.tags)


def table_row(tags: Collection[str]) -> TableRow | None:
    """The table row whose tags the channel carries, the most specific (most tags) first."""
    carried = set(tags)
    best: TableRow | None = None
    rows_by_tag = _table()
    for tag in carried:
        for row in rows_by_tag.get(tag, ()):
            if (best is None or len(row.match) > len(best.match)) and all(t in carried for t in row.match):
                best = row
    return best


@functools.cache
def _table() -> dict[str, tuple[TableRow, ...]]:
    """Rows by their first tag: a channel checks only the rows one of its tags starts."""
    try:
        document = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    grouped: dict[str, list[TableRow]] = {}
    for entry in document.get("families", []):
        row = TableRow(
            match=tuple(str(t).lower() for t in entry["match"]),
            quality=_clamp(float(entry["quality"])),
            model=str(entry.get("model") or " ".join(entry["match"])),
            reasoning=bool(entry.get("reasoning", False)),
        )
        grouped.setdefault(row.match[0], []).append(row)
    return {tag: tuple(rows) for tag, rows in grouped.items()}


def quality_array(index: TagIndex) -> np.ndarray:
    cached = index.cache.get("quality")
    if cached is None:
        cached = np.asarray([channel_quality(c) for c in index.channels], dtype=np.float64)
        index.cache["quality"] = cached
    return cached


def reasoning_mask(index: TagIndex) -> Mask:
    cached = index.cache.get("reasoning")
    if cached is None:
        cached = np.asarray([is_reasoning(c) for c in index.channels], dtype=np.float64)
        index.cache["reasoning"] = cached
    return cached > 0


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def strongest_channel(index: TagIndex) -> Channel | None:
    """The highest-quality chat channel with a known price (the dearest among equals): what
    "always the strongest" would have used."""
    cached = index.cache.get("strongest")
    if cached is None:
        quality = quality_array(index)
        best, key = -1, (-1.0, -1.0)
        for position, channel in enumerate(index.channels):
            if channel.mode != "chat" or channel.input_cost_per_token is None:
                continue
            candidate = (
                float(quality[position]),
                (channel.input_cost_per_token or 0.0) + (channel.output_cost_per_token or 0.0),
            )
            if candidate > key:
                best, key = position, candidate
        cached = index.cache["strongest"] = np.asarray([best], dtype=np.float64)
    position = int(cached[0])
    return index.channels[position] if position >= 0 else None
