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
