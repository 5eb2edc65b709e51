"""SiliconFlow prices: the pricing page (HTML, parsed with beautifulsoup4) or the site's catalogue
JSON. Prices are CNY per million tokens ("¥0.35 / M tokens", "0.35"); "免费" / "Free" is 0.
Converted to USD with the configured rate (USD per CNY).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scrapers.prices import PER_MILLION, LayoutChanged, Price

SOURCE = "siliconflow"
DEFAULT_URL = "https://siliconflow.cn/pricing"
FREE_WORDS = ("免费", "free")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)+$")


def cny_per_million(text: Any) -> float | None:
    """'¥0.35 / M tokens' -> 0.35, '免费' -> 0.0, '' / 'n/a' -> None."""
    value = str(text or "").strip()
    if not value:
        return None
    if any(word in value.lower() for word in FREE_WORDS):
        return 0.0
    match = _NUMBER.search(value.replace(",", ""))
    return float(match.group(1)) if match else None


_PRICE_CELL = re.compile(
    r"^[¥￥]?\s*\d+(\.\d+)?\s*(元|yuan|cny)?\s*(/\s*(m|1m|百万)\s*tokens?)?$", re.IGNORECASE
)


def price_cell(text: str) -> float | None:
    """A table cell that is a price (not a size such as '7B' or a context such as '32K')."""
    value = text.strip()
    if value.lower() in FREE_WORDS or value in FREE_WORDS:
        return 0.0
    return cny_per_million(value) if _PRICE_CELL.match(value) else None


def _price(input_cny: float, output_cny: float, usd_per_cny: float) -> Price:
    return Price(
        input_cny * usd_per_cny / PER_MILLION, output_cny * usd_per_cny / PER_MILLION, SOURCE, currency="CNY"
    )


def parse_pricing_html(html: str, usd_per_cny: float) -> dict[str, Price]:
    """Rows of the pricing table: a model id cell, then input and output price cells (one price
    cell = both). Raises LayoutChanged when no row can be read."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    prices: dict[str, Price] = {}
    for row in soup.find_all("tr"):
        cells = [cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])]
        found = next(
            ((i, c.split()[0]) for i, c in enumerate(cells) if c and _MODEL_ID.match(c.split()[0])), None
        )
        if found is None:
            continue
        position, model = found
        amounts = [a for a in (price_cell(c) for c in cells[position + 1 :]) if a is not None]
        if not amounts:
            continue
        # A "(Free)" display name or a single price column: the same price in and out.
        input_cny, output_cny = (amounts[-2], amounts[-1]) if len(amounts) >= 2 else (amounts[0], amounts[0])
        prices[model] = _price(input_cny, output_cny, usd_per_cny)
    if not prices:
        raise LayoutChanged("0 prices parsed from the SiliconFlow pricing page; layout changed?")
    return prices


def parse_catalogue_json(body: Any, usd_per_cny: float) -> dict[str, Price]:
    """The site's catalogue JSON: a list (or `data.models`) of entries with `modelName` + `price`
    (+ `priceUnit` "/ M Tokens"), or `模型名` + `输入价格` / `输出价格`."""
    if isinstance(body, Mapping):
        body = (
            (body.get("data") or {}).get("models")
            if isinstance(body.get("data"), Mapping)
            else body.get("data")
        )
    if not isinstance(body, list):
        raise LayoutChanged("SiliconFlow catalogue: no model list in the answer; layout changed?")
    prices: dict[str, Price] = {}
    for entry in body:
        if not isinstance(entry, Mapping):
            continue
        model = entry.get("modelName") or entry.get("模型名")
        if not isinstance(model, str):
            continue
        unit = str(entry.get("priceUnit") or "/ M Tokens").lower()
        if "token" not in unit:
            continue  # images are priced per image / step: not a chat price
        if "输入价格" in entry:
            input_cny, output_cny = (
                cny_per_million(entry.get("输入价格")),
                cny_per_million(entry.get("输出价格")),
            )
        else:
            input_cny = output_cny = cny_per_million(entry.get("price"))
        if input_cny is None or output_cny is None:
            continue
        prices[model] = _price(input_cny, output_cny, usd_per_cny)
    if not prices:
        raise LayoutChanged("0 prices parsed from the SiliconFlow catalogue; layout changed?")
    return prices
