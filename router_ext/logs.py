"""Our logs as JSON lines (one object per line: time, level, logger, message, and for each
request its id, channel and outcome), secrets masked in every line.

`smart_router.log_format: json` (default) or `text`. LiteLLM's own logs keep LiteLLM's format
(`litellm_settings.json_logs: true` makes them JSON too).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from health.masking import mask_secrets

REQUESTS_LOGGER = "smart_router.requests"
REQUEST_FIELDS = (
    "request_id",
    "requested_model",
    "endpoint",
    "rule",
    "deployment_id",
    "channel",
    "strategy",
    "status",
    "attempts",
    "error_class",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "session",
)


class JsonLines(logging.Formatter):
    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        known = list(self.secrets())
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_secrets(record.getMessage(), known),
        }
        event = getattr(record, "event", None)
        if isinstance(event, Mapping):
            line.update({k: mask_secrets(v, known) if isinstance(v, str) else v for k, v in event.items()})
        if record.exc_info:
            line["error"] = mask_secrets(self.formatException(record.exc_info), known)
        return json.dumps(line, ensure_ascii=False, default=str)


class MaskedText(logging.Formatter):
    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record), list(self.secrets()))


def configure(log_format: str, secrets: Callable[[], Iterable[str]]) -> None:
    logger = logging.getLogger("smart_router")
    if getattr(logger, "_smart_router_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(secrets) if log_format == "json" else MaskedText(secrets))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line per event, not one from us and one from the root logger
    logger._smart_router_configured = True  # type: ignore[attr-defined]


def log_request(record: Mapping[str, Any]) -> None:
    logger = logging.getLogger(REQUESTS_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        event = {name: record.get(name) for name in REQUEST_FIELDS if record.get(name) is not None}
        logger.info("request %s", event.get("status", "?"), extra={"event": event})
