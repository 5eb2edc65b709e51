"""Price and listing parsers on small fixtures in the real formats."""

import json
from pathlib import Path

import pytest

from scrapers import openrouter, siliconflow
from scrapers.listing import ListingError, listing_headers, listing_url, parse_listing
from scrapers.prices import LayoutChanged

PRICES = Path(__file__).parents[1] / "fixtures" / "prices"
USD_PER_CNY = 0.14


def test_openrouter_prices_in_usd_per_million() -> None:
    prices = openrouter.parse_models(json.loads((PRICES / "openrouter_models.json").read_text()))
    assert prices["anthropic/claude-opus-4"].per_million() == (15.0, 75.0)
    assert prices["qwen/qwen3-235b-a22b"].per_million() == (0.14, 0.6)
    assert prices["qwen/qwen3-30b-a3b:free"].free
    assert "openrouter/auto" not in prices  # "-1" = variable: unknown, never free
    assert prices["mistralai/mistral-small-3.2-24b-instruct:free"].free  # zero keys omitted (2026)
    assert prices["google/gemini-2.5-pro-exp-03-25"].free  # 0 without ":free" is still 0


def test_openrouter_garbage_is_a_layout_change() -> None:
    with pytest.raises(LayoutChanged, match="no 'data' list"):
        openrouter.parse_models({"models": []})
    with pytest.raises(LayoutChanged, match="0 prices parsed"):
        openrouter.parse_models({"data": [{"id": "x"}]})


def test_siliconflow_page_in_cny_converted_to_usd() -> None:
    prices = siliconflow.parse_pricing_html((PRICES / "siliconflow_pricing.html").read_text(), USD_PER_CNY)
    assert prices["Qwen/Qwen2.5-7B-Instruct"].free and prices["Qwen/Qwen3-8B"].free
    assert prices["Pro/Qwen/Qwen2.5-7B-Instruct"].per_million() == (0.049, 0.049)
    assert prices["Pro/THUDM/GLM-4.1V-9B-Thinking"].per_million() == (0.035, 0.14)
    assert prices["Qwen/Qwen2.5-32B-Instruct"].per_million() == pytest.approx((0.1764, 0.1764))
    assert prices["deepseek-ai/DeepSeek-V3"].currency == "CNY"
    assert len(prices) == 7  # the size column ("7B") is never read as a price


def test_a_changed_siliconflow_layout_says_so() -> None:
    with pytest.raises(
        LayoutChanged, match="0 prices parsed from the SiliconFlow pricing page; layout changed"
    ):
        siliconflow.parse_pricing_html((PRICES / "siliconflow_pricing_changed.html").read_text(), USD_PER_CNY)


def test_listings_of_each_kind() -> None:
    openai_like = {"object": "list", "data": [{"id": "a", "object": "model"}, {"id": "b", "active": False}]}
    assert [m.id for m in parse_listing("openai", openai_like)] == ["a"]
    ollama = {"models": [{"name": "qwen2.5:7b", "details": {"parameter_size": "7.6B"}}]}
    (model,) = parse_listing("ollama_chat", ollama)
    assert model.id == "qwen2.5:7b" and model.params_b == pytest.approx(7.6)
    with pytest.raises(ListingError):
        parse_listing("openai", {"error": "nope"})
    with pytest.raises(ListingError):
        parse_listing("ollama", ["not", "a", "listing"])


def test_listing_urls_and_headers() -> None:
    assert listing_url("openai", "http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1/models"
    assert listing_url("ollama_chat", "http://127.0.0.1:11434") == "http://127.0.0.1:11434/api/tags"
    assert listing_url("anthropic", None) == "https://api.anthropic.com/v1/models"
    assert listing_headers("anthropic", "k")["x-api-key"] == "k"
    assert listing_headers("groq", "k") == {"Authorization": "Bearer k"}
