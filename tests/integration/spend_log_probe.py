"""A LiteLLM logger for tests, reading the StandardLoggingPayload LiteLLM hands its loggers: appends
the `spend_logs_metadata` every logger receives to the file named by SPEND_LOG_PROBE (what LiteLLM's
spend logs would store with a database), and our request id with the `routing_decision` (what
LiteLLM's logs view renders) to the file named by ROUTING_DECISION_PROBE."""

from __future__ import annotations

import json
import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger


class SpendLogProbe(CustomLogger):
    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        logged = kwargs.get("standard_logging_object") or {}
        metadata = logged.get("metadata") or {}
        extra = metadata.get("spend_logs_metadata")
        path = os.environ.get("SPEND_LOG_PROBE")
        if path:
            _append(path, extra)
        path = os.environ.get("ROUTING_DECISION_PROBE")
        if path:
            ours = (extra or {}).get("smart_router") or {}
            _append(
                path,
                {"request_id": ours.get("request_id"), "routing_decision": metadata.get("routing_decision")},
            )


def _append(path: str, line: Any) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, default=str) + "\n")


probe = SpendLogProbe()
