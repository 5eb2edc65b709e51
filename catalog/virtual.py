"""Virtual model names: `tag:...` queries and `auto`, `auto:free`, ... groups.

A virtual name resolves to a `RouteSpec`: which channels are eligible (a tag query plus the
free/local restrictions) and which strategy ranks them (None = the active one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from catalog.query import TagQuery, is_tag_query, parse_tag_query


@dataclass(frozen=True, slots=True)
class RouteSpec:
    name: str
    query: TagQuery | None = None  # None = every channel
    strategy: str | None = None  # None = the active strategy
    free_only: bool = False
    local_only: bool = False
    description: str = ""
    floor: bool = False  # the prompt's difficulty sets a minimum channel quality (strategies/floor.py)


BUILTIN_VIRTUAL_MODELS: dict[str, RouteSpec] = {
    spec.name: spec
    for spec in (
        RouteSpec("auto", description="every channel, ranked by the active strategy"),
        RouteSpec("auto:free", free_only=True, description="verified free channels only"),
        RouteSpec("auto:local", local_only=True, description="local channels only"),
        RouteSpec("auto:cheap", strategy="cost_first", description="cheapest for this request"),
        RouteSpec("auto:fast", strategy="speed_optimized", description="fastest observed"),
        RouteSpec("auto:best", strategy="quality_optimized", description="highest quality"),
        RouteSpec(
            "auto:smart",
            strategy="cost_first",
            floor=True,
            description="cheapest channel good enough for the prompt's difficulty",
        ),
    )
}


def resolve_virtual_name(model: str, custom: Mapping[str, RouteSpec]) -> RouteSpec | None:
    """The route for a virtual name, None for a concrete model name.

    Raises TagQueryError for a malformed `tag:` query.
    """
    if is_tag_query(model):
        return RouteSpec(model, query=parse_tag_query(model))
    key = model.strip().lower()
    if not key.startswith("auto"):
        return custom.get(model) or custom.get(key)
    return custom.get(key) or BUILTIN_VIRTUAL_MODELS.get(key)


def is_virtual_name(model: str, custom: Mapping[str, RouteSpec]) -> bool:
    """Whether `resolve_virtual_name` would answer a route, without parsing a tag query (the
    request path asks this before the decision, which parses it once)."""
    if is_tag_query(model):
        return True
    key = model.strip().lower()
    if not key.startswith("auto"):
        return model in custom or key in custom
    return key in custom or key in BUILTIN_VIRTUAL_MODELS
