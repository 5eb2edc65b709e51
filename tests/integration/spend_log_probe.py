"""A LiteLLM logger for tests: appends the `spend_logs_metadata` every logger receives to the
file named by SPEND_LOG_PROBE (what LiteLLM's spend logs would store with a database)."""

from __future__ import annotations

import json
import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger


class SpendLogProbe(CustomLogger):
    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        path = os.environ.get("SPEND_LOG_PROBE")
        if not path:
            return
        logged = kwargs.get("standard_logging_object") or {}
        extra = (logged.get("metadata") or {}).get("spend_logs_metadata")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(extra, default=str) + "\n")


probe = SpendLogProbe()
