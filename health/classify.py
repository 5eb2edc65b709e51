"""Classify an upstream failure: whose fault is it, and for how long is the channel out?

permanent          the key is dead or the account cannot pay: disable the key until an admin
                   re-enables it (or the key changes in config)
temporary          rate limits, 5xx, overload, timeouts, dropped or refused connections,
                   malformed responses: open the breaker, come back after a cooldown
model_unavailable  this model is not served by this channel (404): out for a long cooldown,
                   the channel's other models are untouched
caller             the request itself is wrong (context too long, bad parameter): the channel is
                   not punished; another channel (say a larger context) may still be tried

A pure function of status, body and headers; unknown shapes fall back to the status code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from health.retry_hints import retry_at


class ErrorKind(StrEnum):
    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    MODEL_UNAVAILABLE = "model_unavailable"
    CALLER = "caller"


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: ErrorKind
    reason: str  # short, stable: "invalid_key", "insufficient_credit", "rate_limited", ...
    status: int | None
    retry_at: float | None = None  # epoch seconds, when the upstream said so
    message: str = ""


_CREDIT_WORDS = re.compile(
    r"insufficient[_ ](?:quota|credits?|balance|funds)|credit balance is too low|balance is insufficient|"
    r"account balance|billing hard limit|exceeded your current quota|payment required|purchase more",
    re.IGNORECASE,
)
_KEY_WORDS = re.compile(
    r"invalid[_ ]api[_ ]key|incorrect api key|invalid x-api-key|api key (?:not valid|invalid|expired|revoked)|"
    r"authentication|unauthori[sz]ed|account (?:has been )?(?:deactivated|disabled|suspended)|key (?:revoked|disabled)",
    re.IGNORECASE,
)
_CONTEXT_WORDS = re.compile(
    r"context[_ ]length|maximum context|context window|too many tokens|prompt is too long|reduce the length",
    re.IGNORECASE,
)
_MODEL_MISSING_WORDS = re.compile(
    r"model[_ ]not[_ ]found|does not exist|no such model|unknown model|model .* not (?:found|available)|"
    r"not a valid model",
    re.IGNORECASE,
)
_RATE_WORDS = re.compile(
    r"rate[_ ]?limit|too many requests|per-min|per-day|rpm|tpm|resource_exhausted", re.IGNORECASE
)
_OVERLOAD_WORDS = re.compile(
    r"overloaded|temporarily unavailable|service unavailable|try again later", re.IGNORECASE
)

# SiliconFlow's own codes in `{"code": N, "message": ...}` bodies.
_SILICONFLOW_CODES = {
    30001: (ErrorKind.PERMANENT, "insufficient_credit"),
    20012: (ErrorKind.MODEL_UNAVAILABLE, "model_not_found"),
    50505: (ErrorKind.TEMPORARY, "overloaded"),
}


def parse_body(body: Any) -> tuple[Any, str]:
    """(parsed JSON or None, flat text) from a dict, bytes or a text that may embed JSON."""
    if isinstance(body, Mapping):
        return body, json.dumps(body)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return None, "" if body is None else str(body)
    start = body.find("{")
    while start != -1:
        try:
            parsed, _ = json.JSONDecoder().raw_decode(body[start:])
        except ValueError:
            start = body.find("{", start + 1)
            continue
        if isinstance(parsed, dict):
            return parsed, body
        start = body.find("{", start + 1)
    return None, body


def _error_fields(parsed: Any) -> tuple[str, str, Any]:
    """(type, code, numeric code) of an OpenAI / Anthropic / Gemini / SiliconFlow error body."""
    if not isinstance(parsed, Mapping):
        return "", "", None
    error = parsed.get("error")
    if isinstance(error, Mapping):
        return (
            str(error.get("type") or error.get("status") or ""),
            str(error.get("code") or ""),
            error.get("code"),
        )
    return str(parsed.get("type") or ""), str(parsed.get("code") or ""), parsed.get("code")


def classify_error(
    status: int | None, body: Any = None, headers: Mapping[str, Any] | None = None, now: float | None = None
) -> Verdict:
    parsed, text = parse_body(body)
    kind_field, code_field, numeric_code = _error_fields(parsed)
    fields = f"{kind_field} {code_field}".lower()
    when = retry_at(headers, parsed, text, time.time() if now is None else now)

    def verdict(kind: ErrorKind, reason: str) -> Verdict:
        return Verdict(kind, reason, status, when if kind is ErrorKind.TEMPORARY else None, text[:500])

    if isinstance(numeric_code, int) and numeric_code in _SILICONFLOW_CODES:
        kind, reason = _SILICONFLOW_CODES[numeric_code]
        return verdict(kind, reason)
    if status is None or status == 0:
        return verdict(ErrorKind.TEMPORARY, "connection_error")
    if "insufficient_quota" in fields or status == 402:
        return verdict(ErrorKind.PERMANENT, "insufficient_credit")
    if _CREDIT_WORDS.search(text) and not (status == 429 and when is not None):
        # Gemini's per-minute "exceeded your current quota" carries a RetryInfo: that is a
        # rate limit, not an empty account.
        return verdict(ErrorKind.PERMANENT, "insufficient_credit")
    if status == 401 or "authentication_error" in fields or "invalid_api_key" in fields:
        return verdict(ErrorKind.PERMANENT, "invalid_key")
    if status == 403:
        if _RATE_WORDS.search(text):
            return verdict(ErrorKind.TEMPORARY, "rate_limited")
        return verdict(ErrorKind.PERMANENT, "forbidden")
    if status == 429:
        return verdict(ErrorKind.TEMPORARY, "rate_limited")
    if status == 404 or "model_not_found" in fields:
        return verdict(ErrorKind.MODEL_UNAVAILABLE, "model_not_found")
    if status in (400, 413, 422):
        if _CONTEXT_WORDS.search(text) or "context_length_exceeded" in fields:
            return verdict(ErrorKind.CALLER, "context_length_exceeded")
        if _MODEL_MISSING_WORDS.search(text):
            return verdict(ErrorKind.MODEL_UNAVAILABLE, "model_not_found")
        if _KEY_WORDS.search(text):
            return verdict(ErrorKind.PERMANENT, "invalid_key")
        return verdict(ErrorKind.CALLER, "bad_request")
    if status in (408, 504) or "timeout" in fields:
        return verdict(ErrorKind.TEMPORARY, "timeout")
    if status == 529 or "overloaded" in fields or _OVERLOAD_WORDS.search(text):
        return verdict(ErrorKind.TEMPORARY, "overloaded")
    if status >= 500:
        return verdict(ErrorKind.TEMPORARY, "server_error")
    if _RATE_WORDS.search(text):
        return verdict(ErrorKind.TEMPORARY, "rate_limited")
    return verdict(ErrorKind.CALLER if 400 <= status < 500 else ErrorKind.TEMPORARY, f"http_{status}")
