"""Tag queries: `tag:qwen,free,!paid,>=8b,<70b,ctx>=128k`.

All positive tags must be carried by a channel, no `!` tag may be, and every size bound must
hold. A channel whose size is unknown fails a size bound: a filter the router cannot check is
not a filter it may assume satisfied.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from catalog.sizes import parse_context_size, parse_param_size

QUERY_PREFIXES = ("tag:", "tags:")
_COMPARISON = re.compile(r"^(ctx|context)?\s*(>=|<=|>|<|==|=)\s*(.*)$")
_FORBIDDEN_IN_TAG = re.compile(r"[:/@<>=!\s]")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "==": operator.eq,
}


class TagQueryError(ValueError):
    """A tag query the router cannot understand; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One size comparison such as `>=8b` (billions) or `ctx>=128k` (tokens)."""

    op: str
    value: float

    def holds(self, size: float | None) -> bool:
        return size is not None and _OPERATORS[self.op](size, self.value)


@dataclass(frozen=True, slots=True)
class TagQuery:
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    params: tuple[Bound, ...] = ()
    context: tuple[Bound, ...] = ()

    @property
    def has_size_bounds(self) -> bool:
        return bool(self.params or self.context)


def is_tag_query(model: str) -> bool:
    return model[:5].lower().startswith(QUERY_PREFIXES)


def parse_tag_query(text: str) -> TagQuery:
    """Parse `tag:a,b` / `tags:a,b` (or the bare term list); raise TagQueryError when malformed."""
    if not isinstance(text, str):
        raise TagQueryError("a tag query must be a string such as 'tag:qwen,free'")
    body = text.strip()
    lowered = body.lower()
    for prefix in QUERY_PREFIXES:
        if lowered.startswith(prefix):
            body = body[len(prefix) :]
            break
    terms = [term.strip().lower() for term in body.split(",")]
    terms = [term for term in terms if term]
    if not terms:
        raise TagQueryError(f"empty tag query {text!r}: name at least one tag, for example 'tag:qwen,free'")
    include: set[str] = set()
    exclude: set[str] = set()
    params: list[Bound] = []
    context: list[Bound] = []
    for term in terms:
        if term.startswith("!"):
            exclude.add(_checked_tag(term[1:].strip(), term))
        elif match := _COMPARISON.match(term):
            is_context, op, literal = match.group(1), match.group(2), match.group(3).strip()
            if is_context:
                tokens = parse_context_size(literal)
                if tokens is None:
                    raise TagQueryError(
                        f"{term!r} is not a context filter: use a token count such as "
                        "ctx>=128k, ctx>=1m or ctx>=32000"
                    )
                context.append(Bound("=" if op == "==" else op, float(tokens)))
            else:
                billions = parse_param_size(literal)
                if billions is None:
                    raise TagQueryError(
                        f"{term!r} is not a size filter: use a number with b or m, "
                        "such as >=8b, <70b or <=270m"
                    )
                params.append(Bound("=" if op == "==" else op, billions))
        else:
            include.add(_checked_tag(term, term))
    return TagQuery(frozenset(include), frozenset(exclude), tuple(params), tuple(context))


def _checked_tag(tag: str, term: str) -> str:
    if not tag:
        raise TagQueryError(f"{term!r} names no tag: write '!tag' to exclude a tag")
    if bad := _FORBIDDEN_IN_TAG.search(tag):
        raise TagQueryError(
            f"{term!r} is not a tag: {bad.group(0)!r} cannot appear in a tag; "
            "separate tags with commas, e.g. 'tag:qwen,free'"
        )
    return tag
