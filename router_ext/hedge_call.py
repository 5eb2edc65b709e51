"""The call a Messages or Responses hedge makes: the request the proxy handed the Router, once
more, to one deployment (router_ext/runtime/stream_race.py races it).

Through the Router, so the hedge is translated, logged and costed like any call; with a call id
and logging object of its own, no fallbacks (the race is its failover) and the same routing
ticket, so its callbacks are this request's.
"""

from __future__ import annotations

import uuid
from typing import Any

# Set by the proxy for the first call, or after it: the hedge gets its own.
_NOT_COPIED = frozenset(
    {"litellm_logging_obj", "litellm_call_id", "deployment", "fallbacks", "_litellm_client_requested_model"}
)
_METHODS = {"messages": "aanthropic_messages", "responses": "aresponses"}


def raced_endpoint(endpoint: Any) -> bool:
    return endpoint in _METHODS


async def start_hedge(call: Any, data: dict[str, Any], deployment_id: str) -> Any:
    """`call`: the Router's own method (not our race around it)."""
    kwargs = {key: value for key, value in data.items() if key not in _NOT_COPIED}
    kwargs.update(model=deployment_id, litellm_call_id=str(uuid.uuid4()), num_retries=0)
    return await call(**kwargs)
