"""Bad input is a 400 naming the field, before it can reach a channel or the catalogue:
request bodies (router_ext/request_checks.py), stored channels' numbers
(router_ext/catalogue/channel_specs.py), and a model_info number the catalogue cannot use."""

from __future__ import annotations

import math
from typing import Any

import pytest
from litellm.proxy._types import ProxyException

from router_ext.catalogue.channel_specs import ChannelRequestError, check_create
from router_ext.catalogue.channels import channel_from_deployment
from router_ext.request_checks import check_request

HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("chat", {"messages": HELLO, "stream": True, "max_tokens": 50, "timeout": 30}),
        (
            "chat",
            {"messages": HELLO, "max_completion_tokens": 100.0, "stream_options": {"include_usage": True}},
        ),
        ("messages", {"messages": HELLO, "max_tokens": 1024, "stream": False}),
        ("responses", {"input": "hi", "max_output_tokens": 64}),
        ("responses", {"input": [{"role": "user", "content": "hi"}]}),
        ("embeddings", {"input": "hi"}),
        ("embeddings", {"input": ["a", "b"]}),
        ("embeddings", {"input": [[1, 2, 3]]}),
        ("chat", {"messages": HELLO, "stream": None, "max_tokens": None}),
        ("chat", {"messages": HELLO, "response_format": {"type": "json_object"}}),
        ("completions", {"prompt": "hi", "max_tokens": 5}),
        ("completions", {"prompt": ["a", "b"], "stream": True}),
    ],
)
def test_what_the_official_clients_send_passes(endpoint: str, body: dict[str, Any]) -> None:
    check_request(body, endpoint)


@pytest.mark.parametrize(
    ("endpoint", "body", "param"),
    [
        ("chat", {"messages": "hello"}, "messages"),
        ("chat", {"messages": [1]}, "messages"),
        ("chat", {"messages": {"role": "user"}}, "messages"),
        ("chat", {"messages": []}, "messages"),
        ("messages", {"messages": "hello"}, "messages"),
        ("responses", {"input": 5}, "input"),
        ("embeddings", {"input": 5}, "input"),
        ("embeddings", {"input": [{"a": 1}]}, "input"),
        ("chat", {"messages": HELLO, "stream": "yes"}, "stream"),
        ("messages", {"messages": HELLO, "stream": 1}, "stream"),
        ("chat", {"messages": HELLO, "stream_options": "x"}, "stream_options"),
        ("chat", {"messages": HELLO, "max_tokens": 10**400}, "max_tokens"),
        ("chat", {"messages": HELLO, "max_tokens": math.inf}, "max_tokens"),
        ("chat", {"messages": HELLO, "max_tokens": -5}, "max_tokens"),
        ("chat", {"messages": HELLO, "max_tokens": "50"}, "max_tokens"),
        ("responses", {"input": "hi", "max_output_tokens": 1.5}, "max_output_tokens"),
        ("chat", {"messages": HELLO, "timeout": "abc"}, "timeout"),
        ("chat", {"messages": HELLO, "timeout": -1}, "timeout"),
        ("chat", {"messages": HELLO, "timeout": 1e-9}, "timeout"),
        ("completions", {"prompt": 5}, "prompt"),
        ("completions", {"prompt": [{"text": "hi"}]}, "prompt"),
        ("chat", {"messages": HELLO, "response_format": "json"}, "response_format"),
        ("completions", {"prompt": "hi", "response_format": "x"}, "response_format"),
        ("completions", {"prompt": "hi", "response_format": {"type": "x"}}, "response_format"),
        ("chat", {"messages": HELLO, "extra_body": 5}, "extra_body"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(endpoint: str, body: dict[str, Any], param: str) -> None:
    with pytest.raises(ProxyException) as refused:
        check_request(body, endpoint)
    assert refused.value.code == "400" and refused.value.param == param
    assert refused.value.message.startswith(f"{param}: must be")


CHANNEL = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9"}}


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("model_info", "max_input_tokens", 10**400),
        ("model_info", "max_input_tokens", -1),
        ("model_info", "input_cost_per_token", math.nan),
        ("model_info", "input_cost_per_token", math.inf),
        ("model_info", "output_cost_per_token", -1e-6),
        ("litellm_params", "input_cost_per_token", "cheap"),
        ("model_info", "cache_read_input_token_cost", True),
        ("model_info", "search_context_cost_per_query", {"search_context_size_low": -1}),
        ("litellm_params", "rpm", -1),
        ("litellm_params", "tpm", "x"),
        ("litellm_params", "timeout", 0),
        ("model_info", "some_float", math.nan),
    ],
)
def test_a_channel_number_that_would_break_routing_or_billing_is_refused(
    section: str, field: str, value: Any
) -> None:
    body = {**CHANNEL, section: {**CHANNEL.get(section, {}), field: value}}  # type: ignore[dict-item]
    with pytest.raises(ChannelRequestError) as refused:
        check_create(body, set(), "new")
    assert refused.value.status == 400 and str(refused.value.param).startswith(f"{section}.{field}")


def test_real_prices_and_limits_pass() -> None:
    body = {
        **CHANNEL,
        "litellm_params": {
            **CHANNEL["litellm_params"],
            "rpm": 60,
            "timeout": 30,
            "input_cost_per_token": "1e-7",
        },
        "model_info": {
            "input_cost_per_token": 1e-7,
            "output_cost_per_token": 0,
            "max_input_tokens": 128_000,
            "search_context_cost_per_query": {"search_context_size_low": 0.005},
        },
    }
    channel_id, change = check_create(body, set(), "new")
    assert channel_id == "new" and change.fields["model_info"]["max_input_tokens"] == 128_000


def test_the_catalogue_skips_a_number_it_cannot_use() -> None:
    deployment = {
        "model_name": "m",
        "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9"},
        "model_info": {"id": "m1", "max_input_tokens": 10**400, "input_cost_per_token": math.nan},
    }
    channel = channel_from_deployment(deployment)
    assert channel is not None and channel.id == "m1"


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a", "budget_day_usd": Infinity}',
        '{"name": "a", "budget_month_usd": NaN}',
        '{"name": "a", "budget_day_usd": true}',
        '{"name": "a", "budget_day_usd": "10"}',
        '{"name": "a", "key": "sk-mine"}',
    ],
)
def test_a_client_key_budget_is_a_finite_number_and_nothing_else_is_taken(body: str) -> None:
    from pydantic import ValidationError

    from router_ext.admin.keys import KeyCreate

    with pytest.raises(ValidationError):
        KeyCreate.model_validate_json(body)
    assert KeyCreate.model_validate_json('{"name": "a", "budget_day_usd": 1}').budget_day_usd == 1.0


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"aws_secret_access_key": "s3cr3t"}, "litellm_params.aws_secret_access_key"),
        ({"vertex_credentials": "{...}"}, "litellm_params.vertex_credentials"),
        ({"azure_ad_token": "t"}, "litellm_params.azure_ad_token"),
        ({"extra_headers": {"Authorization": "Bearer sk-x"}}, "litellm_params.extra_headers.Authorization"),
    ],
)
def test_a_credential_the_store_would_keep_in_clear_is_refused(params: dict[str, Any], param: str) -> None:
    body = {**CHANNEL, "litellm_params": {**CHANNEL["litellm_params"], **params}}  # type: ignore[dict-item]
    with pytest.raises(ChannelRequestError) as refused:
        check_create(body, set(), "new")
    assert refused.value.param == param and "only api_key is stored sealed" in str(refused.value)
    assert "s3cr3t" not in str(refused.value) and "sk-x" not in str(refused.value)
    sealed = {
        **CHANNEL,
        "litellm_params": {
            **CHANNEL["litellm_params"],
            "api_key": "sk-ok",
            "max_tokens": 5,
            "output_cost_per_reasoning_token": 1e-6,
            "aws_secret_access_key": "os.environ/AWS_SECRET_ACCESS_KEY",
        },
    }
    assert check_create(sealed, set(), "new")[1].api_key == "sk-ok"  # type: ignore[arg-type]


def test_an_upstream_key_in_a_body_is_refused_unless_the_operator_allows_client_credentials() -> None:
    from litellm.proxy import proxy_server

    body = {"messages": [{"role": "user", "content": "hi"}], "api_key": "sk-x"}
    with pytest.raises(ProxyException) as refused:
        check_request(body, "chat")
    assert refused.value.code == "400" and refused.value.param == "api_key"
    assert "sk-x" not in refused.value.message
    saved = proxy_server.general_settings
    proxy_server.general_settings = {"allow_client_side_credentials": True}
    try:
        check_request(body, "chat")
    finally:
        proxy_server.general_settings = saved


@pytest.mark.parametrize("field", ["messages", "tools", "tool_choice"])
def test_a_chat_field_sent_to_legacy_completions_is_a_400_pointing_at_chat(field: str) -> None:
    with pytest.raises(ProxyException) as refused:
        check_request({"prompt": "hi", field: []}, "completions")
    assert refused.value.code == "400" and refused.value.param == field
    assert "/v1/chat/completions" in refused.value.message


def test_a_traceback_in_an_error_never_reaches_the_client() -> None:
    import litellm

    from router_ext.errors import without_traceback

    error = litellm.APIConnectionError(
        message='Unsupported response_format type - x\nTraceback (most recent call last):\n  File "/x.py"',
        llm_provider="openai",
        model="m",
    )
    copy = without_traceback(error)
    assert copy is not None and copy.status_code == error.status_code
    text = str(copy.detail)
    assert "Traceback" not in text and "/x.py" not in text
    assert "Unsupported response_format type - x" in text
    assert (
        without_traceback(litellm.BadRequestError(message="plain", llm_provider="openai", model="m")) is None
    )
