"""LiteLLM's mapped exceptions classified by what the upstream did, built by LiteLLM's own
exception mapping (the one every failed call goes through)."""

from __future__ import annotations

import pytest
from litellm.litellm_core_utils.exception_mapping_utils import exception_type
from litellm.llms.openai.common_utils import OpenAIError

from router_ext.state.channel_health import classify_exception


def mapped(status: int, message: str) -> Exception:
    with pytest.raises(Exception) as raised:
        exception_type(
            model="m",
            original_exception=OpenAIError(status_code=status, message=message),
            custom_llm_provider="openai",
        )
    return raised.value


def test_an_sdk_connection_error_is_a_connection_failure_not_a_server_error() -> None:
    # The OpenAI SDK's APIConnectionError reaches LiteLLM's mapping with status 500.
    error = mapped(500, "Connection error.")
    assert type(error).__name__ == "InternalServerError"
    verdict = classify_exception(error, 0.0)
    assert (verdict.kind.value, verdict.reason, verdict.status) == ("temporary", "connection_error", None)


def test_an_upstream_500_stays_a_server_error() -> None:
    verdict = classify_exception(mapped(500, '{"error": {"message": "The server had a bad day"}}'), 0.0)
    assert (verdict.kind.value, verdict.reason, verdict.status) == ("temporary", "server_error", 500)
