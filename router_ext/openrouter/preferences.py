"""OpenRouter's routing fields of a request body, read and checked: `models`, `provider`, `route`.

A malformed field is a `PreferenceError` naming it (the wire answers 400 in OpenRouter's error
shape). Fields OpenRouter has that cannot mean anything here (quantizations, throughput
preferences, per-provider options) are accepted and listed as ignored, so a client that sends
them still works and can see they had no effect.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_MODELS = 10
# Carries the fields from the `/api/v1` wire to the pre-call hook; the wire strips any a client
# sends itself, on every path.
OPENROUTER_HEADER = "x-smart-router-openrouter"
SORTS = {
    "price": "cost_first",
    "throughput": "speed_optimized",
    "latency": "speed_optimized",
    "exacto": "quality_optimized",
}
PROVIDER_FIELDS = {
    "order",
    "only",
    "ignore",
    "sort",
    "max_price",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "zdr",
    "enforce_distillable_text",
    "quantizations",
    "preferred_min_throughput",
    "preferred_max_latency",
    "options",
}
NO_EFFECT = (
    "quantizations",
    "preferred_min_throughput",
    "preferred_max_latency",
    "options",
    "enforce_distillable_text",
)
MOVED_FIELDS = ("models", "provider", "route", "usage", "transforms", "plugins")


class PreferenceError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class MaxPrice:
    prompt: float | None = None  # USD per million input tokens
    completion: float | None = None  # USD per million output tokens
    request: float | None = None  # USD per request


@dataclass(frozen=True, slots=True)
class Preferences:
    models: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    sort: str | None = None  # price | throughput | latency | exacto
    max_price: MaxPrice | None = None
    allow_fallbacks: bool = True
    require_parameters: bool = False
    data_collection: str = "allow"  # allow | deny
    zdr: bool = False
    ignored: tuple[str, ...] = field(default_factory=tuple)  # accepted, no effect here

    @property
    def empty(self) -> bool:
        return self == Preferences(ignored=self.ignored)

    def to_header(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_header(cls, value: str) -> Preferences:
        raw: dict[str, Any] = json.loads(value)
        price = raw.get("max_price")
        only = raw.get("only")
        return cls(
            models=tuple(raw.get("models") or ()),
            order=tuple(raw.get("order") or ()),
            only=tuple(only) if only is not None else None,
            ignore=tuple(raw.get("ignore") or ()),
            sort=raw.get("sort"),
            max_price=MaxPrice(**price) if price else None,
            allow_fallbacks=bool(raw.get("allow_fallbacks", True)),
            require_parameters=bool(raw.get("require_parameters", False)),
            data_collection=str(raw.get("data_collection") or "allow"),
            zdr=bool(raw.get("zdr", False)),
            ignored=tuple(raw.get("ignored") or ()),
        )


def take_preferences(body: dict[str, Any]) -> Preferences:
    """OpenRouter's fields out of `body` (removed: none of them may reach an upstream)."""
    moved = {name: body.pop(name) for name in MOVED_FIELDS if name in body}
    ignored: list[str] = []
    models = _names(moved.get("models"), "models")
    if len(models) > MAX_MODELS:
        raise PreferenceError("models", f"at most {MAX_MODELS} fallback models, not {len(models)}")
    route = moved.get("route")
    if route is not None and route not in ("fallback", "sort"):
        raise PreferenceError("route", f"must be 'fallback' or 'sort' (deprecated), not {route!r}")
    for name in ("usage", "transforms", "plugins"):
        if name in moved:
            ignored.append(name)
    provider = moved.get("provider")
    if provider is None:
        return Preferences(models=models, ignored=tuple(ignored))
    if not isinstance(provider, Mapping):
        raise PreferenceError("provider", f"must be an object, not {type(provider).__name__}")
    unknown = sorted(set(provider) - PROVIDER_FIELDS)
    if unknown:
        raise PreferenceError(
            f"provider.{unknown[0]}", f"unknown field; provider takes {', '.join(sorted(PROVIDER_FIELDS))}"
        )
    ignored += [f"provider.{name}" for name in NO_EFFECT if provider.get(name) not in (None, False, [], {})]
    data_collection = provider.get("data_collection", "allow")
    if data_collection not in ("allow", "deny"):
        raise PreferenceError(
            "provider.data_collection", f"must be 'allow' or 'deny', not {data_collection!r}"
        )
    only = provider.get("only")
    return Preferences(
        models=models,
        order=_names(provider.get("order"), "provider.order"),
        only=_names(only, "provider.only") if only is not None else None,
        ignore=_names(provider.get("ignore"), "provider.ignore"),
        sort=_sort(provider.get("sort")),
        max_price=_max_price(provider.get("max_price")),
        allow_fallbacks=_flag(provider, "allow_fallbacks", True),
        require_parameters=_flag(provider, "require_parameters", False),
        data_collection=str(data_collection),
        zdr=_flag(provider, "zdr", False),
        ignored=tuple(ignored),
    )


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PreferenceError(where, "must be a list of non-empty strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _flag(provider: Mapping[str, Any], name: str, default: bool) -> bool:
    value = provider.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise PreferenceError(f"provider.{name}", f"must be true or false, not {value!r}")
    return value


def _sort(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {by, partition}: the partition is how OpenRouter mixes its `models`
        value = value.get("by")
    if value is None:
        return None
    if value not in SORTS:
        raise PreferenceError("provider.sort", f"must be one of {', '.join(SORTS)}, not {value!r}")
    return str(value)


def _max_price(value: Any) -> MaxPrice | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PreferenceError("provider.max_price", "must be an object: {prompt, completion, request}")
    known = {"prompt", "completion", "request", "image", "audio"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise PreferenceError(
            f"provider.max_price.{unknown[0]}", "unknown field; use prompt, completion, request"
        )
    prices = {}
    for name in ("prompt", "completion", "request"):
        raw = value.get(name)
        if raw is None:
            continue
        try:
            number = (
                float(raw) if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) else math.nan
            )
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise PreferenceError(
                f"provider.max_price.{name}", f"must be a number >= 0 (USD per million tokens), not {raw!r}"
            )
        prices[name] = number
    return MaxPrice(**prices)
