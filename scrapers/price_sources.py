"""Every kind of price source, in one table: adding one is a parser module and one line here.

A kind names its default address, whether its answer is JSON or a page, the currency its prices
are in, and the parser that turns the answer into USD prices per token (given USD per unit of
that currency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scrapers import openrouter, siliconflow
from scrapers.prices import Price


@dataclass(frozen=True, slots=True)
class PriceSourceKind:
    default_url: str
    body: str  # "json" (parsed) or "html" (text)
    currency: str  # what `parse` is given the USD rate of
    parse: Callable[[Any, float], dict[str, Price]]


PRICE_SOURCES: dict[str, PriceSourceKind] = {
    "openrouter": PriceSourceKind(
        openrouter.DEFAULT_URL, "json", "USD", lambda body, _: openrouter.parse_models(body)
    ),
    "siliconflow_html": PriceSourceKind(
        siliconflow.DEFAULT_URL, "html", "CNY", siliconflow.parse_pricing_html
    ),
    "siliconflow_json": PriceSourceKind(
        siliconflow.DEFAULT_URL, "json", "CNY", siliconflow.parse_catalogue_json
    ),
}
