"""LiteLLM's deployment shape, read in one place.

A deployment is one entry of `Router.model_list` (or of a config's `model_list`):
`{"model_name": ..., "litellm_params": {"model", "api_base", "api_key", ...}, "model_info": {"id", ...}}`.
Everything else in smart-router asks these functions, so the shape (and what a *channel name* is)
is defined once.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

EMPTY: Mapping[str, Any] = {}


def params(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    value = deployment.get("litellm_params")
    return value if isinstance(value, Mapping) else EMPTY


def info(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    value = deployment.get("model_info")
    return value if isinstance(value, Mapping) else EMPTY


def deployment_id(deployment: Mapping[str, Any]) -> str | None:
    value = info(deployment).get("id")
    return str(value) if value else None


def model_name(deployment: Mapping[str, Any]) -> str:
    return str(deployment.get("model_name") or "")


def upstream_model(deployment: Mapping[str, Any]) -> str:
    """`litellm_params.model`: what LiteLLM sends upstream, with its provider prefix if any."""
    return str(params(deployment).get("model") or "")


def api_base(deployment: Mapping[str, Any]) -> str | None:
    value = params(deployment).get("api_base")
    return str(value) if value else None


def api_key(deployment: Mapping[str, Any]) -> str | None:
    """The deployment's key, resolving LiteLLM's `os.environ/NAME` references."""
    value = params(deployment).get("api_key")
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("os.environ/"):
        return os.environ.get(value.split("/", 1)[1]) or None
    return value


def provider(deployment: Mapping[str, Any]) -> str:
    """`custom_llm_provider`, else the model's prefix (`openrouter/...`), else what LiteLLM
    infers from a bare name (`gpt-4o-mini` -> openai)."""
    explicit = params(deployment).get("custom_llm_provider")
    return str(explicit) if explicit else provider_of_model(upstream_model(deployment))


@functools.lru_cache(maxsize=4096)
def provider_of_model(upstream: str) -> str:
    if "/" in upstream:
        return sys.intern(upstream.split("/", 1)[0].lower())  # one string per provider, not per channel
    import litellm

    try:
        return sys.intern(str(litellm.get_llm_provider(model=upstream)[1]))
    except Exception:  # noqa: BLE001  # LiteLLM raises bare exceptions for names it cannot place
        return "openai"


def channel_name(deployment: Mapping[str, Any]) -> str:
    """The channel a deployment belongs to: `model_info.channel`, else its provider. Price
    sources, multipliers, time windows and discovered deployments are keyed by it."""
    named = info(deployment).get("channel")
    return str(named) if named else provider(deployment)


def is_wildcard(deployment: Mapping[str, Any]) -> bool:
    return "*" in model_name(deployment) or "*" in upstream_model(deployment)


def ids(model_list: Any) -> dict[str, Mapping[str, Any]]:
    """Deployment id -> deployment, for a `model_list`."""
    found: dict[str, Mapping[str, Any]] = {}
    for deployment in model_list or ():
        found_id = deployment_id(deployment)
        if found_id:
            found[found_id] = deployment
    return found


def set_params(deployment: Mapping[str, Any]) -> str:
    """`litellm_params` as set, comparable across a trip through LiteLLM: it fills in its own flags as
    False on some deployments and not others, and reads a config's `30` back as `30.0`."""
    kept = {k: _number(v) for k, v in params(deployment).items() if v is not None and v is not False}
    return json.dumps(kept, sort_keys=True, default=str)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
