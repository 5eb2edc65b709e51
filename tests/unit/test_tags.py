import pytest

from catalog.sizes import context_from_tags, params_from_tags, parse_context_size, parse_param_size
from catalog.tags import merge_tags, name_tags


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qwen/qwen3-30b-a3b:free", {"qwen", "qwen3", "30b", "a3b", "free", "qwen3-30b-a3b"}),
        ("openai/gpt-4o-mini", {"openai", "gpt", "4o", "mini", "gpt-4o-mini"}),
        ("anthropic/claude-3-haiku:free", {"anthropic", "claude", "3", "haiku", "free", "claude-3-haiku"}),
        ("moonshot-v1-128k", {"moonshot", "v1", "128k", "moonshot-v1-128k"}),
        ("free,gemma,270m", {"free", "gemma", "270m"}),
    ],
)
def test_examples_from_the_issue(name: str, expected: set[str]) -> None:
    assert name_tags(name) == expected


def test_dot_stays_inside_a_tag_and_case_is_folded() -> None:
    tags = name_tags("Qwen/Qwen2.5-72B-Instruct")
    assert {"qwen", "qwen2.5", "72b", "instruct", "qwen2.5-72b-instruct"} == tags


def test_versioned_family_yields_the_family() -> None:
    assert {"qwen2.5", "qwen", "7b"} <= name_tags("ollama/qwen2.5:7b")
    assert {"llama3.1", "llama"} <= name_tags("llama3.1:8b")
    assert "v" not in name_tags("moonshot-v1-128k")  # one letter is not a family


def test_date_suffix_yields_an_undated_segment() -> None:
    assert "claude-3-haiku" in name_tags("anthropic/claude-3-haiku-20240307")
    assert "claude-3-haiku-20240307" in name_tags("anthropic/claude-3-haiku-20240307")
    assert "gpt-4o" in name_tags("gpt-4o-2024-08-06")


def test_empty_parts_are_dropped() -> None:
    assert name_tags("a//b--c::") == {"a", "b", "c", "b--c"}
    assert name_tags("") == frozenset()


def test_explicit_tags_are_merged_and_normalised() -> None:
    tags = merge_tags(["openai/gpt-4o-mini"], [" Vision ", "CODER", ""])
    assert {"vision", "coder", "gpt"} <= tags
    assert "" not in tags


def test_parameter_sizes_share_one_unit() -> None:
    assert params_from_tags({"30b", "a3b"}) == 30.0
    assert params_from_tags({"270m"}) == pytest.approx(0.27)
    assert params_from_tags({"8x7b"}) == 56.0
    assert params_from_tags({"gpt", "mini"}) is None
    assert parse_param_size("270m") == pytest.approx(0.27)
    assert parse_param_size("1t") == 1000.0
    assert parse_param_size("xb") is None


def test_context_sizes() -> None:
    assert context_from_tags({"128k"}) == 128_000
    assert context_from_tags({"1m"}) == 1_000_000
    assert context_from_tags({"270m"}) is None  # parameters, not context
    assert parse_context_size("128k") == 128_000
    assert parse_context_size("32000") == 32_000
    assert parse_context_size("lots") is None
