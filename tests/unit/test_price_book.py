"""Prices applied to deployments: config wins, multipliers, time-of-day windows."""

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from router_ext.catalogue.price_book import PRICE_SOURCE, PriceBook, Quote
from router_ext.settings import PriceSettings, PriceWindow
from scrapers.prices import Price


def at(clock: str) -> float:
    hours, minutes = map(int, clock.split(":"))
    return dt.datetime(2026, 11, 26, hours, minutes, tzinfo=dt.UTC).timestamp()


def deployments() -> list[dict[str, Any]]:
    return [
        {
            "model_name": "a",
            "litellm_params": {"model": "openai/deepseek-chat"},
            "model_info": {"id": "a", "channel": "deepseek"},
        },
        {
            "model_name": "b",
            "litellm_params": {"model": "openai/deepseek-reasoner"},
            "model_info": {
                "id": "b",
                "channel": "deepseek",
                "input_cost_per_token": 2e-6,
                "output_cost_per_token": 4e-6,
            },
        },
        {
            "model_name": "c",
            "litellm_params": {"model": "openrouter/x/y"},
            "model_info": {"id": "c", "channel": "openrouter"},
        },
    ]


def book(settings: PriceSettings, model_list: list[dict[str, Any]]) -> PriceBook:
    router = SimpleNamespace(model_list=model_list)
    prices = PriceBook(settings, lambda: router, lambda: None, lambda: None)
    prices.quotes = {
        "deepseek": {"deepseek-chat": Quote(Price(1e-6, 2e-6, "scraped"), at("10:00"))},
        "openrouter": {"x/y": Quote(Price(1e-6, 1e-6, "openrouter"), at("10:00"))},
    }
    return prices


def test_a_window_across_midnight() -> None:
    window = PriceWindow(channel="deepseek", start="16:30", end="00:30", factor=0.5)
    assert window.covers(17 * 60) and window.covers(10) and not window.covers(12 * 60)
    with pytest.raises(ValueError, match="time of day"):
        PriceWindow(channel="x", start="25:00", end="01:00", factor=1)


def test_config_wins_multipliers_and_windows_apply() -> None:
    settings = PriceSettings(
        multipliers={"openrouter": 1.1},
        windows=[PriceWindow(channel="deepseek", start="16:30", end="00:30", factor=0.5)],
    )
    model_list = deployments()
    prices = book(settings, model_list)
    assert prices.apply(now=at("12:00")) == 2
    a, b, c = (d["model_info"] for d in model_list)
    assert (a["input_cost_per_token"], a[PRICE_SOURCE]) == (1e-6, "scraped")
    assert (b["input_cost_per_token"], b[PRICE_SOURCE]) == (2e-6, "config")
    assert c["input_cost_per_token"] == pytest.approx(1.1e-6)
    prices.apply(now=at("17:00"))  # off-peak: half price, configured or scraped
    assert (a["input_cost_per_token"], b["input_cost_per_token"]) == (0.5e-6, 1e-6)
    assert c["input_cost_per_token"] == pytest.approx(1.1e-6)
    prices.apply(now=at("08:00"))
    assert (a["input_cost_per_token"], b["output_cost_per_token"]) == (1e-6, 4e-6)


def test_a_model_without_a_provider_prefix_gets_its_channels_price() -> None:
    # `gpt-4o-mini` has no `openai/` prefix: its channel is still its provider (openai), the name
    # a price source, the channel listing and the deployment's own Channel all agree on.
    from router_ext import deployment as shape
    from router_ext.catalogue.channels import channel_from_deployment

    bare = {"model_name": "mini", "litellm_params": {"model": "gpt-4o-mini"}, "model_info": {"id": "mini"}}
    assert shape.channel_name(bare) == "openai"
    built = channel_from_deployment(bare)
    assert built is not None and built.channel == "openai"
    prices = book(PriceSettings(multipliers={"openai": 2.0}), [bare])
    prices.quotes = {"openai": {"gpt-4o-mini": Quote(Price(1e-7, 4e-7, "openrouter"), at("10:00"))}}
    assert prices.apply(now=at("12:00")) == 1
    assert bare["model_info"]["input_cost_per_token"] == pytest.approx(2e-7)
    assert prices._channels() == {"openai"}  # asked for: its channel is on
