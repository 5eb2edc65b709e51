"""Reading what LiteLLM hands our hooks: our routing record inside a request's metadata, the
deployment that answered, token usage, and the record written for every request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounting.cost import Usage
from catalog.channel import Channel
from router_ext.request_facts import count_tokens, prompt_tokens
from router_ext.state.spend_tracker import utc_now

METADATA_KEY = "smart_router"


def to_float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def usage_of(
    logged: Mapping[str, Any], response: Any, routed: Mapping[str, Any], messages: Any = None
) -> Usage:
    """Tokens from the upstream's usage; counted with tiktoken when a stream sent none."""
    prompt = int(logged.get("prompt_tokens") or 0)
    completion = int(logged.get("completion_tokens") or 0)
    if prompt or completion:
        return Usage(prompt, completion)
    text = ""
    for choice in getattr(response, "choices", None) or []:
        message = getattr(choice, "message", None) or getattr(choice, "delta", None)
        text += str(getattr(message, "content", "") or "")
    prompt = prompt_tokens(messages, exact=True) if messages else int(routed.get("prompt_tokens") or 0)
    return Usage(prompt, count_tokens(text), counted=True)


def record_base(
    routed: Mapping[str, Any], channel: Channel | None, deployment_id: str | None
) -> dict[str, Any]:
    return {
        "request_id": routed.get("request_id"),
        "created_at": utc_now(),
        "requested_model": str(routed.get("requested_model") or "")[:300],
        "deployment_id": deployment_id,
        "channel": channel.channel if channel else None,
        "upstream_model": channel.upstream_model if channel else None,
        "strategy": routed.get("strategy") or "direct",
        "session": routed.get("session"),
        "api_key_hash": routed.get("key"),
        "error_class": None,
    }


def routing_record(kwargs: dict) -> dict[str, Any]:
    """Our routing record in a request's kwargs, wherever LiteLLM put its metadata."""
    for key in ("metadata", "litellm_metadata"):
        metadata = kwargs.get(key)
        if isinstance(metadata, dict) and isinstance(metadata.get(METADATA_KEY), dict):
            return metadata[METADATA_KEY]
    params = kwargs.get("litellm_params")
    if isinstance(params, dict):
        return routing_record(params)
    return {}


def deployment_id_of(kwargs: dict) -> str | None:
    params = kwargs.get("litellm_params") or {}
    info = params.get("model_info") or {}
    deployment_id = info.get("id")
    return str(deployment_id) if deployment_id else None
