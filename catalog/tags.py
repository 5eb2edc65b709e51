"""Tags derived from model names.

`qwen/qwen3-30b-a3b:free` -> qwen, qwen3, 30b, a3b, free, plus the whole model segment
`qwen3-30b-a3b`. Dates at the end of a segment are stripped into a second segment tag so that
`claude-3-haiku-20240307` is also found as `claude-3-haiku`, and a versioned family name
(`qwen2.5`, `llama3.1`) also yields its family (`qwen`, `llama`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

# Separators that split a name into tags. `.` is deliberately absent: `qwen2.5` is one tag.
_TAG_SPLIT = re.compile(r"[:/@\-_,\s]+")
# Separators between segments; a segment keeps its `-`/`_` so `qwen3-30b-a3b` survives whole.
_SEGMENT_SPLIT = re.compile(r"[:/@,\s]+")
# Date suffixes seen in provider names: -20240307, -2024-08-06, @20241022, -0125 (OpenAI MMDD).
_DATE_SUFFIX = re.compile(r"[-_@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{4})$")
# A versioned family name (`qwen2.5`, `llama3.1`, `gemma3`) also yields the family (`qwen`), so
# `tag:qwen` finds `ollama/qwen2.5:7b`, whose name has no bare `qwen` part.
_VERSIONED_FAMILY = re.compile(r"^([a-z]{2,})\d+(?:\.\d+)*$")


def name_tags(name: str) -> frozenset[str]:
    """All tags of one model name (lower-cased, empty parts dropped)."""
    lowered = name.strip().lower()
    tags = {part for part in _TAG_SPLIT.split(lowered) if part}
    tags |= {match.group(1) for part in tags if (match := _VERSIONED_FAMILY.match(part))}
    for segment in _SEGMENT_SPLIT.split(lowered):
        if not segment or ("-" not in segment and "_" not in segment):
            continue
        tags.add(segment)
        undated = _DATE_SUFFIX.sub("", segment)
        if undated and undated != segment:
            tags.add(undated)
    return frozenset(tags)


def merge_tags(names: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """Tags of several names plus explicit tags (`model_info.tags`), each normalised."""
    tags: set[str] = set()
    for name in names:
        if name:
            tags |= name_tags(name)
    for tag in extra:
        normalised = str(tag).strip().lower()
        if normalised:
            tags.add(normalised)
    # Thousands of channels share a few hundred tags: one string object per tag, not per channel.
    return frozenset(sys.intern(tag) for tag in tags)
