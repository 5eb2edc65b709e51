"""OpenRouter's key endpoint (the real shapes in ../shared/fixtures/openrouter) and what it
changes: an account that bought credits gets 1,000 free-model requests a day, not 50."""

from __future__ import annotations

from router_ext.catalogue.openrouter_keys import openrouter_keys
from router_ext.catalogue.rate_caps import caps_of
from router_ext.settings import LimitSettings
from scrapers.openrouter_key import parse_key_info

CURRENT = {
    "data": {
        "label": "sk-or-v1-726...f5c",
        "limit": 1,
        "limit_remaining": 0.8246643901,
        "usage": 0.175,
        "is_free_tier": False,
    }
}
LEGACY = {"data": {"label": "sk-or-v1-116...0ce", "limit": 5, "limit_remaining": 4.898, "is_free_tier": True}}
FREE = {
    "model_name": "or/qwen",
    "litellm_params": {"model": "openrouter/qwen/qwen3-8b:free", "api_key": "sk-or-1"},
    "model_info": {"id": "or-free"},
}
PAID = {
    "model_name": "or/gpt",
    "litellm_params": {"model": "openrouter/openai/gpt-4o", "api_key": "sk-or-1"},
    "model_info": {"id": "or-paid"},
}


def test_both_shapes_parse_and_anything_else_is_none() -> None:
    current, legacy = parse_key_info(CURRENT), parse_key_info(LEGACY)
    assert current is not None and not current.free_tier and current.free_requests_per_day == 1000
    assert legacy is not None and legacy.free_tier and legacy.free_requests_per_day == 50
    assert current.limit_remaining == 0.8246643901
    assert parse_key_info({"error": {"message": "No auth credentials found", "code": 401}}) is None


def test_free_models_get_openrouters_caps_and_the_key_endpoint_raises_the_daily_one() -> None:
    default = caps_of([FREE, PAID], LimitSettings())
    assert {(c.kind, c.limit, c.period_s) for c in default["or-free"]} == {
        ("requests", 20, 60.0),
        ("requests", 50, 86400.0),
    }
    assert "or-paid" not in default
    credited = caps_of([FREE, PAID], LimitSettings(), {"or-free": 1000})
    assert ("requests", 1000, 86400.0) in {(c.kind, c.limit, c.period_s) for c in credited["or-free"]}
    configured = caps_of(
        [FREE], LimitSettings.model_validate({"openrouter_free": {"rpm": 10}}), {"or-free": 1000}
    )
    assert [(c.limit, c.period_s) for c in configured["or-free"]] == [(10, 60.0)]  # the config wins
    assert openrouter_keys([FREE, PAID]) == {
        ("https://openrouter.ai/api/v1", "sk-or-1"): ["or-free", "or-paid"]
    }
