"""Prompt tokens for routing: estimated without the tokenizer, close to it, erring high."""

from pathlib import Path

import pytest

from router_ext.request_facts import count_tokens, estimate_tokens, prompt_tokens, request_facts

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {
    "prose": "Hello! Can you help me write a short poem about the sea, with three stanzas and an ABAB rhyme?",
    "chinese": "请用三句话介绍一下杭州西湖的历史和主要景点，并推荐一条适合半天游览的路线。",  # noqa: RUF001  # Chinese punctuation, on purpose
    "mixed": "把下面的 Python 函数改写成 async 版本：def fetch(url): return requests.get(url).json()",  # noqa: RUF001
    "readme": (ROOT / "README.md").read_text(encoding="utf-8"),
    "readme_zh": (ROOT / "README.zh-CN.md").read_text(encoding="utf-8"),
    "code": (ROOT / "router_ext" / "hook.py").read_text(encoding="utf-8"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_estimate_is_close_to_tiktoken_and_errs_high(name: str) -> None:
    text = SAMPLES[name]
    ratio = estimate_tokens(text) / count_tokens(text)
    assert 0.95 <= ratio <= 1.4, f"{name}: estimate / tiktoken = {ratio:.2f}"


def test_routing_facts_use_the_estimate_and_billing_can_count_exactly() -> None:
    messages = [{"role": "user", "content": SAMPLES["prose"]}]
    facts = request_facts({"messages": messages, "max_tokens": 50}, default_max_tokens=512)
    assert facts.prompt_tokens == estimate_tokens(SAMPLES["prose"]) + 4
    assert prompt_tokens(messages, exact=True) == count_tokens(SAMPLES["prose"]) + 4
    assert facts.max_output_tokens == 50
    assert estimate_tokens("") == 0 and prompt_tokens("not a list") == 0


def test_the_same_facts_from_every_request_shape() -> None:
    text = SAMPLES["prose"]
    chat = request_facts({"messages": [{"role": "user", "content": text}]}, 512)
    anthropic = request_facts(
        {
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
            "max_tokens": 300,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [
                {"name": "get_weather", "input_schema": {}},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
        },
        512,
        "messages",
    )
    responses = request_facts(
        {
            "instructions": "be brief",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}],
            "max_output_tokens": 200,
            "reasoning": {"effort": "high"},
            "tools": [{"type": "function", "name": "get_weather", "parameters": {}}],
        },
        512,
        "responses",
    )
    embeddings = request_facts({"input": ["one text", "two texts"]}, 512, "embeddings")
    assert (
        anthropic.prompt_tokens == responses.prompt_tokens > chat.prompt_tokens
    )  # + the system / instructions
    assert (anthropic.max_output_tokens, responses.max_output_tokens, embeddings.max_output_tokens) == (
        300,
        200,
        0,
    )
    assert anthropic.thinking and responses.thinking and not chat.thinking
    assert anthropic.tool_names == ("get_weather", "web_search") and responses.tool_names == ("get_weather",)
    assert embeddings.prompt_tokens > 0 and embeddings.endpoint == "embeddings"
    image = {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}
    assert request_facts({"messages": [image]}, 512, "messages").needs_vision
    assert request_facts(
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
        512,
        "responses",
    ).needs_vision
    assert not request_facts({"thinking": {"type": "disabled"}, "messages": []}, 512).thinking
