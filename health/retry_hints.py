"""When may a rate-limited channel be tried again? Read from headers and bodies.

Understands `Retry-After` (seconds or an HTTP date), `X-RateLimit-Reset` (seconds from now,
epoch seconds or epoch milliseconds), OpenAI's `x-ratelimit-reset-requests` durations
(`120ms`, `1m30s`), Gemini's `RetryInfo.retryDelay` (`"37s"`), OpenAI's "try again in 20s"
text, and daily limits that reset at 00:00 UTC (OpenRouter `free-models-per-day`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable, Mapping
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s|seconds?|m|minutes?)\b", re.IGNORECASE)
EPOCH_MS_ABOVE = 1e12
EPOCH_S_ABOVE = 1e9


def retry_at(headers: Mapping[str, Any] | None, body: Any, message: str, now: float) -> float | None:
    """Epoch seconds when the channel may be tried again, or None when nothing says."""
    found: list[float] = []
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    for source in (lowered, _lowered(_nested_headers(body))):
        found += _from_headers(source, now)
    delay = _gemini_retry_delay(body)
    if delay is not None:
        found.append(now + delay)
    if match := _TRY_AGAIN.search(message):
        found.append(now + _seconds(float(match.group(1)), match.group(2)))
    if not found and "per-day" in message.lower():
        found.append(next_utc_midnight(now))
    return max(found) if found else None


def next_utc_midnight(now: float) -> float:
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    return midnight.timestamp()


def parse_reset(value: Any, now: float) -> float | None:
    """`X-RateLimit-Reset`: epoch ms, epoch s, or seconds from now."""
    try:
        number = float(str(value).strip())
    except ValueError:
        duration = parse_duration(str(value))
        return now + duration if duration is not None else None
    if number > EPOCH_MS_ABOVE:
        return number / 1000.0
    if number > EPOCH_S_ABOVE:
        return number
    return now + max(number, 0.0)


def parse_retry_after(value: Any, now: float) -> float | None:
    text = str(value).strip()
    try:
        return now + max(float(text), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def parse_duration(text: str) -> float | None:
    """OpenAI-style durations: `120ms`, `20s`, `1m30s`, `6m0s`, `1h`."""
    text = text.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(_seconds(float(n), u) for n, u in parts)


def _seconds(number: float, unit: str) -> float:
    if unit == "ms":
        return number / 1000.0
    if unit.startswith("m"):
        return number * 60.0
    if unit == "h":
        return number * 3600.0
    return number


def _from_headers(headers: Mapping[str, Any], now: float) -> Iterable[float]:
    if "retry-after-ms" in headers and (delay := _float(headers["retry-after-ms"])) is not None:
        yield now + delay / 1000.0
    if "retry-after" in headers and (at := parse_retry_after(headers["retry-after"], now)) is not None:
        yield at
    if "x-ratelimit-reset" in headers and (at := parse_reset(headers["x-ratelimit-reset"], now)) is not None:
        yield at
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        remaining = headers.get(name.replace("reset", "remaining"))
        if name in headers and str(remaining).strip() == "0":
            duration = parse_duration(str(headers[name]))
            if duration is not None:
                yield now + duration


def _nested_headers(body: Any) -> Mapping[str, Any]:
    """OpenRouter puts the upstream rate-limit headers in `error.metadata.headers`."""
    if not isinstance(body, Mapping):
        return {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else body
    metadata = error.get("metadata") if isinstance(error, Mapping) else None
    headers = metadata.get("headers") if isinstance(metadata, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def _gemini_retry_delay(body: Any) -> float | None:
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
        return None
    for detail in body["error"].get("details") or []:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(str(detail.get("retryDelay", "")))
    return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lowered(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in headers.items()}
