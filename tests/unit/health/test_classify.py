import datetime as dt
import json
from pathlib import Path

import pytest

from health.classify import ErrorKind, classify_error
from health.retry_hints import next_utc_midnight, parse_duration, parse_reset, parse_retry_after

FIXTURES = Path(__file__).parents[2] / "fixtures" / "errors"
NOW = 1_765_661_700.0  # 2025-12-13T21:35:00Z, a minute before the per-min fixture's reset


def body(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


@pytest.mark.parametrize(
    ("status", "name", "kind", "reason"),
    [
        (402, "openrouter_error_402_insufficient_credits", ErrorKind.PERMANENT, "insufficient_credit"),
        (429, "openai_error_429_insufficient_quota", ErrorKind.PERMANENT, "insufficient_credit"),
        (403, "siliconflow_error_403_insufficient_balance_30001", ErrorKind.PERMANENT, "insufficient_credit"),
        (402, "siliconflow_error_403_insufficient_balance_30001", ErrorKind.PERMANENT, "insufficient_credit"),
        (401, "openai_error_401_invalid_api_key", ErrorKind.PERMANENT, "invalid_key"),
        (401, "anthropic_error_401_authentication_error", ErrorKind.PERMANENT, "invalid_key"),
        (429, "openai_error_429_rate_limit_exceeded_rpm", ErrorKind.TEMPORARY, "rate_limited"),
        (429, "openrouter_error_429_free_models_per_min", ErrorKind.TEMPORARY, "rate_limited"),
        (429, "openrouter_error_429_free_models_per_day", ErrorKind.TEMPORARY, "rate_limited"),
        (429, "openrouter_error_429_model_specific_rpm_inner_error", ErrorKind.TEMPORARY, "rate_limited"),
        (429, "gemini_error_429_resource_exhausted", ErrorKind.TEMPORARY, "rate_limited"),
        (529, "anthropic_error_529_overloaded", ErrorKind.TEMPORARY, "overloaded"),
        (404, "openai_error_404_model_not_found", ErrorKind.MODEL_UNAVAILABLE, "model_not_found"),
        (400, "siliconflow_error_400_model_does_not_exist", ErrorKind.MODEL_UNAVAILABLE, "model_not_found"),
        (400, "openai_error_400_context_length_exceeded", ErrorKind.CALLER, "context_length_exceeded"),
        (400, "openai_error_400_unsupported_parameter", ErrorKind.CALLER, "bad_request"),
    ],
)
def test_real_bodies(status: int, name: str, kind: ErrorKind, reason: str) -> None:
    verdict = classify_error(status, body(name), {}, now=NOW)
    assert (verdict.kind, verdict.reason) == (kind, reason)


def test_bodies_embedded_in_litellm_messages() -> None:
    text = "litellm.RateLimitError: RateLimitError: OpenAIException - " + body(
        "openai_error_429_insufficient_quota"
    )
    assert classify_error(429, text, now=NOW).kind is ErrorKind.PERMANENT


def test_status_fallbacks_for_unknown_shapes() -> None:
    assert classify_error(500, "<html>oops</html>", now=NOW).kind is ErrorKind.TEMPORARY
    assert classify_error(503, None, now=NOW).kind is ErrorKind.TEMPORARY
    assert classify_error(None, "Connection refused", now=NOW).reason == "connection_error"
    assert classify_error(408, "", now=NOW).reason == "timeout"
    assert classify_error(418, "", now=NOW).kind is ErrorKind.CALLER
    assert (
        classify_error(
            400,
            '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low"}}',
            now=NOW,
        ).kind
        is ErrorKind.PERMANENT
    )


def test_retry_after_header_sets_the_reopen_time() -> None:
    verdict = classify_error(429, '{"error": {"message": "slow down"}}', {"Retry-After": "7"}, now=NOW)
    assert verdict.retry_at == NOW + 7


def test_openrouter_reset_in_epoch_milliseconds_inside_the_body() -> None:
    verdict = classify_error(429, body("openrouter_error_429_free_models_per_min"), {}, now=NOW)
    assert verdict.retry_at == 1765661760.0


def test_openrouter_daily_limit() -> None:
    verdict = classify_error(429, body("openrouter_error_429_free_models_per_day"), {}, now=NOW)
    assert verdict.retry_at == 1779321600.0  # from the body's X-RateLimit-Reset
    no_header = json.loads(body("openrouter_error_429_free_models_per_day"))
    no_header["error"]["metadata"]["headers"] = {}
    verdict = classify_error(429, json.dumps(no_header), {}, now=NOW)
    assert verdict.retry_at == next_utc_midnight(NOW)
    assert dt.datetime.fromtimestamp(verdict.retry_at, tz=dt.UTC).hour == 0


def test_gemini_retry_delay() -> None:
    assert classify_error(429, body("gemini_error_429_resource_exhausted"), {}, now=NOW).retry_at == NOW + 26


def test_openai_try_again_text() -> None:
    assert (
        classify_error(429, body("openai_error_429_rate_limit_exceeded_rpm"), {}, now=NOW).retry_at
        == NOW + 20
    )


def test_hint_parsers() -> None:
    assert parse_reset("1779321600000", NOW) == 1779321600.0
    assert parse_reset("1779321600", NOW) == 1779321600.0
    assert parse_reset("30", NOW) == NOW + 30
    assert parse_duration("1m30s") == 90
    assert parse_duration("120ms") == 0.12
    assert parse_duration("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 1445412480.0
    assert parse_retry_after("garbage", NOW) is None
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    assert classify_error(429, "{}", headers, now=NOW).retry_at == NOW + 360
