"""Scenario rules: matching each condition, first match wins, start-up errors naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from router_ext.request_facts import request_facts
from router_ext.runtime.rules import Rules, check_rules
from router_ext.settings import SettingsError, parse_settings

MODEL_LIST = [
    {
        "model_name": "glm",
        "litellm_params": {"model": "openai/glm-4.5-air", "api_base": "http://127.0.0.1:9/v1"},
    },
    {
        "model_name": "big",
        "litellm_params": {"model": "openai/qwen3-235b", "api_base": "http://127.0.0.1:9/v1"},
    },
]
RULES = [
    {"name": "background", "match": {"model": "claude-*-haiku*"}, "route": "auto:cheap"},
    {"name": "long", "match": {"prompt_tokens_over": 100}, "route": "tag:qwen3"},
    {"name": "think", "match": {"thinking": True}, "strategy": "quality_optimized"},
    {"name": "search", "match": {"tool": "web_search*", "endpoint": "messages"}, "route": "tag:glm"},
    {"name": "by-header", "match": {"header": {"x-team": "ml-*"}}, "route": "tag:qwen3"},
    {"name": "by-key", "match": {"client_key": "ci-*"}, "route": "auto:free"},
]


def matched(data: dict[str, Any], endpoint: str = "chat", key: str | None = None) -> str | None:
    rules = Rules(parse_settings({"rules": RULES}).rules)
    facts = request_facts(data, 512, endpoint)
    rule = rules.first_match(data.get("model"), facts, data, key)
    return rule.name if rule else None


def test_each_condition_and_the_first_match_wins() -> None:
    hi = [{"role": "user", "content": "hi"}]
    assert matched({"model": "claude-3-5-haiku-20241022", "messages": hi}, "messages") == "background"
    assert (
        matched({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "word " * 200}]})
        == "long"
    )
    assert (
        matched({"model": "x", "messages": hi, "thinking": {"type": "enabled", "budget_tokens": 1024}})
        == "think"
    )
    assert matched({"model": "x", "input": "hi", "reasoning": {"effort": "high"}}, "responses") == "think"
    search = {"model": "x", "messages": hi, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    assert matched(search, "messages") == "search"
    assert matched(search, "chat") is None  # the endpoint condition holds too
    headers = {"proxy_server_request": {"headers": {"X-Team": "ml-research"}}}
    assert matched({"model": "x", "messages": hi, **headers}) == "by-header"
    assert matched({"model": "x", "messages": hi}, key="ci-runner") == "by-key"
    assert matched({"model": "x", "messages": hi}) is None


def test_a_rule_with_an_unknown_route_or_strategy_is_a_start_up_error_naming_it() -> None:
    for bad, message in [
        (
            {"name": "oops", "route": "auto:cheapest"},
            "rules[0] ('oops').route: 'auto:cheapest' is not a virtual name",
        ),
        ({"name": "oops", "route": "gpt-4o"}, "is not a virtual name"),
        ({"name": "oops", "route": "tag:"}, "rules[0] ('oops').route"),
        ({"name": "oops", "strategy": "fastest"}, "unknown strategy 'fastest'"),
        ({"name": "oops"}, "give a route"),
        ({"name": "oops", "route": "tag:llama"}, "'tag:llama' matches no configured channel"),
    ]:
        with pytest.raises(
            SettingsError,
            match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
        ):
            check_rules({"model_list": MODEL_LIST}, parse_settings({"rules": [bad]}))


def test_a_route_that_wildcard_channels_may_serve_later_is_accepted() -> None:
    wildcard = {"model_name": "or/*", "litellm_params": {"model": "openrouter/*"}}
    check_rules(
        {"model_list": [*MODEL_LIST, wildcard]},
        parse_settings({"rules": [{"name": "later", "route": "tag:llama"}]}),
    )
