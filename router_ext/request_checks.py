"""The shape of a request body, checked before routing: a 400 that says what to fix.

LiteLLM fails on some malformed bodies only once it is inside a channel's call (a `messages`
that is a string, a `stream` of "yes", a `timeout` of "abc"), and such a failure looks like the
channel's: a few bad requests would open the breakers of every channel they were routed to.
So what a client controls is checked here, once, and only the fields that are present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router_ext.errors import router_error
from router_ext.litellm_seam.types import ProxyException
from router_ext.numbers import finite_number

MAX_OUTPUT_TOKENS = 10_000_000
MAX_TIMEOUT_S = 86_400.0
MIN_TIMEOUT_S = 1.0  # shorter, every channel would time out: the client's doing, held against them
TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
OBJECT_FIELDS = ("response_format", "extra_body")
COMPLETION_FORMATS = ("text", "json_object", "json_schema")
CHAT_ONLY_FIELDS = ("messages", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")
MESSAGE_ENDPOINTS = ("chat", "messages")


def check_request(data: Mapping[str, Any], endpoint: str) -> None:
    if "api_key" in data and not _client_credentials_allowed():
        # LiteLLM would call a copy of the chosen channel with this key: a new deployment per key,
        # kept, outside our catalogue, breakers and prices
        raise router_error(
            400,
            "invalid_request_error",
            "api_key: an upstream key in the request body is not accepted; send your proxy key as "
            "'Authorization: Bearer <key>' (channel keys are set in the proxy's config, or allowed from "
            "clients with general_settings.allow_client_side_credentials)",
            param="api_key",
        )
    if endpoint in MESSAGE_ENDPOINTS and "messages" in data:
        _check_items(data["messages"], "messages", "a list of message objects")
    if endpoint == "responses" and data.get("input") is not None:
        value = data["input"]
        if not isinstance(value, str):
            _check_items(value, "input", "a string or a list of input items")
    if endpoint == "embeddings" and "input" in data and not _text_or_tokens(data["input"]):
        raise _invalid("input", "a string, a list of strings, or a list of token lists")
    if endpoint == "completions":
        _check_completion(data)
    for name in OBJECT_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], Mapping):
            raise _invalid(name, "an object")
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "true or false")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise _invalid("stream_options", 'an object, e.g. {"include_usage": true}')
    for name in TOKEN_FIELDS:
        value = data.get(name)
        if value is not None and not (_whole(value) and 0 < value <= MAX_OUTPUT_TOKENS):
            raise _invalid(name, f"a whole number from 1 to {MAX_OUTPUT_TOKENS}")
    timeout = data.get("timeout")
    if timeout is not None and not (finite_number(timeout) and MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S):
        raise _invalid("timeout", f"seconds, from {MIN_TIMEOUT_S:g} to {MAX_TIMEOUT_S:g}")


def _client_credentials_allowed() -> bool:
    from router_ext.litellm_seam.proxy_globals import client_side_credentials_allowed

    return client_side_credentials_allowed()


def _check_completion(data: Mapping[str, Any]) -> None:
    """The legacy completions API takes a prompt; LiteLLM hands a chat field on to the SDK call,
    whose TypeError came back as the channel's 500."""
    if "prompt" in data and not _text_or_tokens(data["prompt"]):
        raise _invalid("prompt", "a string, a list of strings, or a list of token lists")
    answer_format = data.get("response_format")
    if isinstance(answer_format, Mapping) and answer_format.get("type") not in COMPLETION_FORMATS:
        raise _invalid("response_format", 'an object whose type is "text", "json_object" or "json_schema"')
    for name in CHAT_ONLY_FIELDS:
        if name in data:
            raise router_error(
                400,
                "invalid_request_error",
                f"{name}: not a field of /v1/completions, which takes a prompt; "
                "send chat messages and tools to /v1/chat/completions",
                param=name,
            )


def _check_items(value: Any, param: str, what: str) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(item, Mapping) for item in value):
        raise _invalid(param, what)


def _text_or_tokens(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(item, str) for item in value) or all(
        _whole(item) or (isinstance(item, list) and all(_whole(token) for token in item)) for item in value
    )


def _whole(value: Any) -> bool:
    return finite_number(value) and float(value).is_integer()


def _invalid(param: str, what: str) -> ProxyException:
    return router_error(400, "invalid_request_error", f"{param}: must be {what}", param=param)
