"""Real price and listing samples from ../shared/fixtures through our parsers."""

from __future__ import annotations

import json

import pytest

from scrapers import openrouter, siliconflow
from scrapers.listing import parse_listing
from tests.conformance.test_shared_fixtures import fixture

USD_PER_CNY = 0.14


def test_the_real_openrouter_list_of_321_models() -> None:
    body = json.loads(fixture("openrouter/models_2025-05-23.json").read_text())
    assert len(body["data"]) == 321
    prices = openrouter.parse_models(body)
    assert len(prices) == 320  # all but openrouter/auto ("-1": variable)
    assert "openrouter/auto" not in prices
    free_named = [m for m in prices if m.endswith(":free")]
    assert len(free_named) == 68 and all(prices[m].free for m in free_named)
    assert prices["anthropic/claude-opus-4"].per_million() == (15.0, 75.0)
    assert prices["google/gemini-2.5-pro-exp-03-25"].free  # priced 0 without ":free"
    assert openrouter.context_sizes(body)["anthropic/claude-opus-4"] == 200_000


def test_siliconflow_catalogue_and_pricing_data() -> None:
    playground = json.loads(
        fixture("siliconflow/playground_comprehensive_all_models_2025-03-21.json").read_text()
    )
    prices = siliconflow.parse_catalogue_json(playground, USD_PER_CNY)
    assert prices["Qwen/Qwen2.5-7B-Instruct"].free
    assert prices["Pro/Qwen/Qwen2.5-7B-Instruct"].per_million() == pytest.approx((0.049, 0.049))
    page = json.loads(fixture("siliconflow/pricing_page_catalog_2026-07-21.json").read_text())
    current = siliconflow.parse_catalogue_json(page, USD_PER_CNY)
    assert current["meituan-longcat/LongCat-2.0"].per_million() == pytest.approx((0.7, 2.8))
    assert len(current) >= 50


def test_siliconflow_pricing_table_as_html() -> None:
    rows = [
        line.strip().strip("|").split("|")
        for line in fixture("siliconflow/pricing_table_2025-08.md").read_text().splitlines()
        if line.startswith("| ") and "/" in line.split("|")[1]
    ]
    html = (
        "<table>"
        + "".join("<tr>" + "".join(f"<td>{cell.strip()}</td>" for cell in row) + "</tr>" for row in rows)
        + "</table>"
    )
    prices = siliconflow.parse_pricing_html(html, USD_PER_CNY)
    assert len(prices) == len(rows)
    assert prices["Qwen/Qwen2.5-7B-Instruct"].free
    assert prices["Pro/THUDM/GLM-4.1V-9B-Thinking"].per_million() == pytest.approx((0.035, 0.14))


@pytest.mark.parametrize(
    ("path", "provider", "count"),
    [
        ("groq/openai_v1_models.json", "groq", None),
        ("lmstudio/v1_models.json", "lm_studio", 4),
        ("ollama/api_tags.json", "ollama", 7),
        ("ollama/api_tags_with_cloud_models.json", "ollama_chat", None),
        ("openai/v1_models_2025-06-09.json", "openai", 74),
        ("siliconflow/v1_models_docs_example.json", "openai", None),
    ],
)
def test_real_model_listings(path: str, provider: str, count: int | None) -> None:
    listed = parse_listing(provider, json.loads(fixture(path).read_text()))
    assert listed and all(m.id for m in listed)
    if count is not None:
        assert len(listed) == count
