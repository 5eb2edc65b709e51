"""Model sizes: parameter counts and context windows, from names or provider data.

One unit internally for each: parameters in billions (float), context in tokens (int).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PARAMS = re.compile(r"^(\d+(?:\.\d+)?)([bm])$")
_MOE_PARAMS = re.compile(r"^(\d+)x(\d+(?:\.\d+)?)b$")
_CONTEXT = re.compile(r"^(\d+(?:\.\d+)?)k$")
# `1m`/`2m` in a name is a context window (gemini-1.5-pro-2m); `135m`/`270m` are parameters.
_CONTEXT_MILLIONS_BELOW = 10


def params_from_tags(tags: Iterable[str]) -> float | None:
    """Largest parameter count (billions) named by a tag such as `30b`, `270m` or `8x7b`."""
    best: float | None = None
    for tag in tags:
        value: float | None = None
        if match := _PARAMS.match(tag):
            number, unit = float(match.group(1)), match.group(2)
            if unit == "b":
                value = number
            elif number >= _CONTEXT_MILLIONS_BELOW:
                value = number / 1000.0
        elif match := _MOE_PARAMS.match(tag):
            value = int(match.group(1)) * float(match.group(2))
        if value is not None and value > 0 and (best is None or value > best):
            best = value
    return best


def context_from_tags(tags: Iterable[str]) -> int | None:
    """Context window (tokens) named by a tag such as `128k` or `1m`."""
    best: int | None = None
    for tag in tags:
        value: int | None = None
        if match := _CONTEXT.match(tag):
            value = int(float(match.group(1)) * 1000)
        elif (match := _PARAMS.match(tag)) and match.group(2) == "m":
            number = float(match.group(1))
            if 0 < number < _CONTEXT_MILLIONS_BELOW:
                value = int(number * 1_000_000)
        if value is not None and value > 0 and (best is None or value > best):
            best = value
    return best


def parse_param_size(text: str) -> float | None:
    """A parameter size literal (`8b`, `270m`, `0.5b`, `1t`) in billions, or None if not one."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([mbt])", text.strip().lower())
    if not match:
        return None
    number = float(match.group(1))
    return {"m": number / 1000.0, "b": number, "t": number * 1000.0}[match.group(2)]


def parse_context_size(text: str) -> int | None:
    """A context size literal (`128k`, `1m`, `32000`) in tokens, or None if not one."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text.strip().lower())
    if not match:
        return None
    number = float(match.group(1))
    return int(number * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2)])
