"""Replays the real provider samples in ../shared/fixtures (present in CI and on dev machines).

Run with `make conformance`; `make test` uses the small copies under tests/fixtures instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.query import parse_tag_query
from catalog.sizes import context_from_tags, params_from_tags
from catalog.tags import name_tags
from health.classify import ErrorKind, classify_error

SHARED = Path(
    os.environ.get("SMART_ROUTER_SHARED_FIXTURES", Path(__file__).parents[3] / "shared" / "fixtures")
)
NOW = 1_765_661_700.0


def fixture(path: str) -> Path:
    file = SHARED / path
    if not file.exists():
        raise FileNotFoundError(f"{file} is missing: `make conformance` needs ../shared/fixtures")
    return file


EXPECTED = {
    "openrouter/error_402_insufficient_credits.json": (402, ErrorKind.PERMANENT),
    "openrouter/error_429_free_models_per_day.json": (429, ErrorKind.TEMPORARY),
    "openrouter/error_429_free_models_per_min.json": (429, ErrorKind.TEMPORARY),
    "openrouter/error_429_model_specific_rpm_inner_error.json": (429, ErrorKind.TEMPORARY),
    "siliconflow/error_403_insufficient_balance_30001.json": (403, ErrorKind.PERMANENT),
    "anthropic/error_401_authentication_error.json": (401, ErrorKind.PERMANENT),
    "anthropic/error_529_overloaded.json": (529, ErrorKind.TEMPORARY),
    "anthropic/error_529_overloaded_with_request_id.json": (529, ErrorKind.TEMPORARY),
    "gemini/error_429_resource_exhausted.json": (429, ErrorKind.TEMPORARY),
    "openai/error_400_context_length_exceeded.json": (400, ErrorKind.CALLER),
    "openai/error_400_unsupported_parameter.json": (400, ErrorKind.CALLER),
    "openai/error_401_invalid_api_key.json": (401, ErrorKind.PERMANENT),
    "openai/error_404_model_not_found.json": (404, ErrorKind.MODEL_UNAVAILABLE),
    "openai/error_429_insufficient_quota.json": (429, ErrorKind.PERMANENT),
    "openai/error_429_rate_limit_exceeded_rpm.json": (429, ErrorKind.TEMPORARY),
}


@pytest.mark.parametrize(("path", "expected"), sorted(EXPECTED.items()))
def test_every_real_error_body_is_classified(path: str, expected: tuple[int, ErrorKind]) -> None:
    status, kind = expected
    assert classify_error(status, fixture(path).read_text(), {}, now=NOW).kind is kind


def test_siliconflow_http_sample() -> None:
    raw = fixture("siliconflow/error_400_model_does_not_exist.http").read_text()
    status = int(raw.split()[1])
    body = raw[raw.index("{") :]
    assert classify_error(status, body, {}, now=NOW).kind is ErrorKind.MODEL_UNAVAILABLE


def test_anthropic_529_headers_sample() -> None:
    lines = fixture("anthropic/error_529_overloaded.headers.txt").read_text().splitlines()
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    verdict = classify_error(
        529, fixture("anthropic/error_529_overloaded.json").read_text(), headers, now=NOW
    )
    assert verdict.reason == "overloaded"


def test_openrouter_catalogue_tags_and_sizes() -> None:
    models = json.loads(fixture("openrouter/models_2025-05-23.json").read_text())["data"]
    assert len(models) == 321
    channels = []
    for model in models:
        tags = name_tags(model["id"])
        assert tags, model["id"]
        if model["id"].endswith(":free"):
            assert "free" in tags
        channels.append(
            Channel(
                id=model["id"],
                model_name=model["id"],
                upstream_model=f"openrouter/{model['id']}",
                provider="openrouter",
                channel="openrouter",
                tags=tags,
                params_b=params_from_tags(tags),
                context_tokens=model.get("context_length") or context_from_tags(tags),
            )
        )
    index = TagIndex(channels)
    free = index.mask(parse_tag_query("tag:free"))
    assert int(free.sum()) == 68
    big_context = np.flatnonzero(index.mask(parse_tag_query("tag:ctx>=1m")))
    assert all(channels[p].context_tokens >= 1_000_000 for p in big_context) and big_context.size > 0
    qwen = np.flatnonzero(index.mask(parse_tag_query("tag:qwen,>=30b")))
    assert qwen.size > 0 and all("qwen" in channels[p].tags for p in qwen)


@pytest.mark.parametrize("path", ["ollama/api_tags.json", "ollama/api_tags_with_cloud_models.json"])
def test_ollama_listing_names_give_family_and_size_tags(path: str) -> None:
    for model in json.loads(fixture(path).read_text())["models"]:
        tags = name_tags(model["name"])
        size = (model.get("details") or {}).get("parameter_size", "")
        if size and size[:-1].replace(".", "").isdigit() and ":" in model["name"]:
            assert tags, model["name"]


def test_openai_and_groq_model_lists_parse() -> None:
    for path in ("openai/v1_models_2025-06-09.json", "groq/openai_v1_models.json", "lmstudio/v1_models.json"):
        for model in json.loads(fixture(path).read_text())["data"]:
            assert name_tags(model["id"]), model["id"]


def _headers_file(path: str) -> dict[str, str]:
    found = {}
    for line in fixture(path).read_text().splitlines():
        name, sep, value = line.partition(":")
        if sep and not name.startswith("HTTP/"):
            found[name.strip()] = value.strip()
    return found


def test_real_rate_limit_headers_are_learned() -> None:
    from accounting.rate_limits import headers_in_body, parse_limit_headers

    groq = parse_limit_headers(_headers_file("groq/rate_limit_headers_success_2024.headers.txt"), NOW)
    assert (groq["requests"].limit, groq["tokens"].limit) == (14400, 7000) and groq[
        "requests"
    ].reset_at == NOW + 6
    anthropic = parse_limit_headers(
        _headers_file("anthropic/messages_nonstream_with_ratelimit_headers.headers.txt"), NOW
    )
    assert anthropic["requests"].limit == 4000 and anthropic["output-tokens"].limit == 80000
    per_minute = json.loads(fixture("openrouter/error_429_free_models_per_min.json").read_text())
    openrouter = parse_limit_headers(headers_in_body(per_minute), NOW)
    assert (openrouter["requests"].limit, openrouter["requests"].remaining) == (20, 0)
    assert openrouter["requests"].reset_at == 1765661760.0


def test_real_openrouter_key_info() -> None:
    from scrapers.openrouter_key import parse_key_info

    current = parse_key_info(json.loads(fixture("openrouter/key_info_2025.json").read_text()))
    legacy = parse_key_info(json.loads(fixture("openrouter/key_info_legacy.json").read_text()))
    assert current is not None and current.free_requests_per_day == 1000
    assert legacy is not None and not legacy.free_tier
