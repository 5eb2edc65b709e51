"""Channels from LiteLLM deployments (`Router.model_list` entries).

Reads our optional `model_info` extras (tags, local, quality, channel, order, prices) and
LiteLLM's own keys (`supports_function_calling`, `supports_vision`, `max_input_tokens`,
`input_cost_per_token`, ...) from the deployment first, then from LiteLLM's model map.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import litellm

from catalog.channel import Channel
from catalog.locality import is_local_endpoint
from catalog.sizes import context_from_tags, params_from_tags, parse_param_size
from catalog.tags import merge_tags
from health.masking import key_fingerprint
from router_ext import deployment as shape


def channels_from_model_list(model_list: Iterable[Mapping[str, Any]]) -> list[Channel]:
    channels = []
    for deployment in model_list:
        channel = channel_from_deployment(deployment)
        if channel is not None:
            channels.append(channel)
    return channels


def channel_from_deployment(deployment: Mapping[str, Any]) -> Channel | None:
    params, info = shape.params(deployment), shape.info(deployment)
    model_name, upstream = shape.model_name(deployment), shape.upstream_model(deployment)
    deployment_id = shape.deployment_id(deployment)
    if not deployment_id or not upstream or shape.is_wildcard(deployment):
        return None  # wildcard deployments are expanded by discovery, not routed as they stand
    provider = shape.provider(deployment)
    api_base = shape.api_base(deployment)
    known = _litellm_model_facts(upstream, provider)

    tags = merge_tags((model_name, upstream), (*_tag_list(info.get("tags")), *_tag_list(params.get("tags"))))
    if info.get("channel"):
        tags = tags | merge_tags((str(info["channel"]),))

    params_b = _params_b(info.get("parameters"))
    if params_b is None:
        params_b = params_from_tags(tags)
    context = _first_int(info.get("max_input_tokens"), known.get("max_input_tokens"))
    if context is None:
        context = context_from_tags(tags)

    input_price = _first_float(info.get("input_cost_per_token"), params.get("input_cost_per_token"))
    output_price = _first_float(info.get("output_cost_per_token"), params.get("output_cost_per_token"))
    if input_price is None and output_price is None:
        input_price = _first_float(known.get("input_cost_per_token"))
        output_price = _first_float(known.get("output_cost_per_token"))
    priced = input_price is not None or output_price is not None

    local = info.get("local")
    return Channel(
        id=str(deployment_id),
        model_name=model_name,
        upstream_model=upstream,
        provider=provider,
        channel=shape.channel_name(deployment),
        api_base=str(api_base) if api_base else None,
        tags=tags,
        params_b=params_b,
        context_tokens=context,
        local=bool(local) if isinstance(local, bool) else is_local_endpoint(api_base, provider),
        input_cost_per_token=input_price if input_price is not None else (0.0 if priced else None),
        output_cost_per_token=output_price if output_price is not None else (0.0 if priced else None),
        price_verified=priced,
        cache_read_cost_per_token=_first_float(
            info.get("cache_read_input_token_cost"), known.get("cache_read_input_token_cost")
        ),
        quality=_first_float(info.get("quality")),
        reasoning=_first_bool(info.get("supports_reasoning"), known.get("supports_reasoning")),
        order=_first_int(info.get("order"), params.get("order"), info.get("priority")),
        supports_function_calling=_first_bool(
            info.get("supports_function_calling"), known.get("supports_function_calling")
        ),
        supports_vision=_first_bool(info.get("supports_vision"), known.get("supports_vision")),
        supports_response_schema=_first_bool(
            info.get("supports_response_schema"), known.get("supports_response_schema")
        ),
        keeps_no_data=info.get("zdr") is True or str(info.get("data_collection") or "").lower() == "deny",
        key_fingerprint=key_fingerprint(shape.api_key(deployment)),
        daily_request_quota=_first_int(info.get("daily_requests")),
        daily_token_quota=_first_int(info.get("daily_tokens")),
        mode=str(info.get("mode") or known.get("mode") or "chat"),
        native_apis=native_apis(deployment, provider),
    )


NATIVE_PATHS = {"/v1/responses": "responses", "/v1/messages": "messages"}


def native_apis(deployment: Mapping[str, Any], provider: str) -> tuple[str, ...]:
    """What the upstream speaks besides chat completions. `model_info.supported_endpoints` (LiteLLM's
    own key, which also makes LiteLLM call those paths natively) says it; otherwise Anthropic
    speaks Messages and OpenAI itself (no `api_base`, or api.openai.com) the Responses API, while
    an arbitrary OpenAI-compatible base is taken to speak chat completions only."""
    declared = shape.info(deployment).get("supported_endpoints")
    if isinstance(declared, (list, tuple)):
        return tuple(sorted({NATIVE_PATHS[p] for p in declared if p in NATIVE_PATHS}))
    if provider == "anthropic":
        return ("messages",)
    base = shape.api_base(deployment)
    if provider == "openai" and (base is None or "api.openai.com" in base):
        return ("responses",)
    return ()


def local_token_count_fields(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """LiteLLM answers `/v1/messages/count_tokens` for an `openai/` deployment by calling the
    upstream's `/responses/input_tokens`; an upstream without the Responses API answers 404, and
    LiteLLM hands that 404 to the client (Claude Code calls count_tokens). With LiteLLM's
    `model_info.token_count_framing: 0` a 404 means "cannot count" and it answers its local
    estimate. A value the config sets is kept. The `model_info` fields to set (none, or framing)."""
    info = deployment.get("model_info")
    if not isinstance(info, Mapping) or "token_count_framing" in info:
        return {}
    provider = shape.provider(deployment)
    if provider == "openai" and "responses" not in native_apis(deployment, provider):
        return {"token_count_framing": 0}
    return {}


def count_tokens_locally_without_responses(deployment: dict[str, Any]) -> None:
    """`local_token_count_fields`, written into a deployment of our own (a copy, never the Router's)."""
    info = deployment.get("model_info")
    if isinstance(info, dict):
        info.update(local_token_count_fields(deployment))


def _litellm_model_facts(upstream: str, provider: str) -> Mapping[str, Any]:
    cost_map: Mapping[str, Any] = litellm.model_cost
    bare = upstream.split("/", 1)[1] if upstream.startswith(f"{provider}/") else upstream
    for key in (upstream, bare, f"{provider}/{bare}"):
        facts = cost_map.get(key)
        if isinstance(facts, Mapping):
            return facts
    return {}


def _tag_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(part) for part in value]
    return [str(value)]


def _params_b(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_param_size(value)
    return None


def _first_float(*values: Any) -> float | None:
    """The first finite number: a value of 1e400 or NaN in a model_info is skipped like any
    other that is not a number (one such channel must not fail every decision)."""
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(number):
            return number
    return None


def _first_int(*values: Any) -> int | None:
    number = _first_float(*values)
    return None if number is None else int(number)


def _first_bool(*values: Any) -> bool | None:
    for value in values:
        if isinstance(value, bool):
            return value
    return None
