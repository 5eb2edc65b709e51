"""OpenRouter's models API (`GET /api/v1/models`): prices and context sizes.

`pricing` values are strings in USD per token. `"-1"` means variable (`openrouter/auto`):
unknown, never free. Newer responses omit zero-valued keys, so a missing `prompt` or
`completion` in a present `pricing` object is 0; a missing `pricing` object is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapers.prices import LayoutChanged, Price

SOURCE = "openrouter"
DEFAULT_URL = "https://openrouter.ai/api/v1/models"


def _usd(value: Any) -> float | None:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number < 0 or number != number else number


def parse_models(body: Any) -> dict[str, Price]:
    """model id -> price, for every model whose price is known. Raises LayoutChanged."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise LayoutChanged("OpenRouter models: no 'data' list in the answer; layout changed?")
    prices: dict[str, Price] = {}
    for model in data:
        if not isinstance(model, Mapping) or not isinstance(model.get("id"), str):
            continue
        pricing = model.get("pricing")
        if not isinstance(pricing, Mapping):
            continue
        prompt, completion = _usd(pricing.get("prompt")), _usd(pricing.get("completion"))
        if prompt is None or completion is None:
            continue  # "-1" = variable: unknown, not free
        prices[model["id"]] = Price(prompt, completion, SOURCE)
    if not prices:
        raise LayoutChanged("0 prices parsed from OpenRouter; layout changed?")
    return prices


def context_sizes(body: Any) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for model in (body.get("data") if isinstance(body, Mapping) else None) or []:
        if isinstance(model, Mapping) and isinstance(model.get("context_length"), int):
            sizes[str(model.get("id"))] = int(model["context_length"])
    return sizes
