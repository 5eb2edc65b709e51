"""Hard filters applied before scoring: what a channel cannot do, it is never asked to do.

A channel is excluded only when it is known not to support what the request needs
(`supports_function_calling: false`, `supports_vision: false`, a context window smaller than
prompt + max_tokens). Unknown capabilities pass: most OpenAI-compatible endpoints accept tools,
and a wrong guess costs one failover, while excluding every unannotated channel would leave
many requests with nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from catalog.index import Mask, TagIndex
from strategies.base import RequestFacts


@dataclass(frozen=True, slots=True)
class HardFilter:
    name: str  # "tools", "vision", "context", "health", ...
    rejects: Mask  # over all index positions
    reason: str
    reasons: Mapping[int, str] = field(default_factory=dict)  # per position, when they differ
    until: Mapping[int, float] = field(default_factory=dict)  # epoch s when a position is back


def hard_filters(index: TagIndex, request: RequestFacts) -> Iterator[HardFilter]:
    if request.needs_tools:
        yield HardFilter("tools", index.no_tools, "does not support function calling (tools)")
    if request.needs_vision:
        yield HardFilter("vision", index.no_vision, "does not accept image inputs")
    needed = request.prompt_tokens + request.max_output_tokens
    if needed > 0:
        too_small = index.context_tokens < needed  # NaN (unknown) compares False: kept
        yield HardFilter("context", too_small, f"context window is smaller than the {needed} tokens needed")
