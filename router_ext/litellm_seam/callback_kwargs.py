"""Reading what LiteLLM hands our callbacks, and writing back what its loggers keep: our routing
ticket inside a request's metadata, the deployment that answered, timings and token usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounting.cost import Usage
from router_ext.request_facts import count_tokens, prompt_tokens
from router_ext.runtime.records import METADATA_KEY
from router_ext.runtime.request_flow import Answer


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


def answer_of(kwargs: dict, response: Any, start_time: Any, end_time: Any) -> Answer | None:
    """A success callback's facts; None when no deployment of ours answered."""
    deployment_id = deployment_id_of(kwargs)
    if not deployment_id:
        return None
    first_token = kwargs.get("completion_start_time")
    logged = kwargs.get("standard_logging_object") or {}
    routed = routing_record(kwargs)
    output_tokens = int(logged.get("completion_tokens") or 0)
    return Answer(
        deployment_id=deployment_id,
        latency_ms=(end_time - start_time).total_seconds() * 1000.0,
        ttft_ms=(first_token - start_time).total_seconds() * 1000.0 if first_token else None,
        output_tokens=output_tokens,
        total_tokens=int(logged.get("total_tokens") or 0),
        litellm_cost=to_float(kwargs.get("response_cost")),
        usage=lambda: usage_of(logged, response, routed, kwargs.get("messages")),
    )


def write_spend_log_metadata(kwargs: dict, outcome: Mapping[str, Any]) -> None:
    """Where LiteLLM's spend logs (and its UI, with its database) keep custom fields:
    `metadata.spend_logs_metadata`, in the logging object and in the call's params."""
    logged = kwargs.get("standard_logging_object")
    places = [logged.get("metadata") if isinstance(logged, dict) else None]
    params = kwargs.get("litellm_params")
    if isinstance(params, dict):
        places.append(params.get("metadata"))
    for metadata in places:
        if isinstance(metadata, dict):
            extra = metadata.get("spend_logs_metadata")
            metadata["spend_logs_metadata"] = {
                **(extra if isinstance(extra, dict) else {}),
                METADATA_KEY: dict(outcome),
            }


def write_routing_decision(kwargs: dict, decision: Mapping[str, Any]) -> None:
    """Where LiteLLM's logs view looks for how a request was routed: `metadata.routing_decision`
    (its `StandardLoggingRoutingDecision`, litellm/types/utils.py), in the logging object its
    loggers get and in the call's params its spend logs are written from. Written after its
    Router's pre-routing step, which clears the key on every attempt for its own auto-router."""
    logged = kwargs.get("standard_logging_object")
    places = [logged.get("metadata") if isinstance(logged, dict) else None]
    params = kwargs.get("litellm_params")
    if isinstance(params, dict):
        places += [params.get("metadata"), params.get("litellm_metadata")]
    for metadata in places:
        if isinstance(metadata, dict):
            metadata["routing_decision"] = dict(decision)


def usage_in_response(response: Any) -> Usage | None:
    """A non-stream's usage, whatever its shape: chat / embeddings (`prompt_tokens`,
    `completion_tokens`), Responses and Anthropic Messages (`input_tokens`, `output_tokens`; a
    Messages answer is a dict). None for a stream (settled at its end) or no usage."""
    usage = response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
    if usage is None:
        return None

    def field(*names: str) -> int:
        for name in names:
            value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
            if isinstance(value, (int, float)):
                return int(value)
        return 0

    prompt = field("prompt_tokens", "input_tokens")
    completion = field("completion_tokens", "output_tokens")
    if isinstance(response, Mapping):  # Anthropic: cache reads and writes are input too
        prompt += field("cache_read_input_tokens") + field("cache_creation_input_tokens")
    return Usage(prompt, completion) if prompt or completion else None
