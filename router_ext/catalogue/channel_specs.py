"""Channels stored at run time: what a client may send to create or change one, and the LiteLLM
deployments a stored channel becomes (one per key: several keys form a rotation pool, as several
config deployments of one model do). No SQL here, no LiteLLM Router: checked and built in memory.

A stored channel is a LiteLLM deployment (`model_name`, `litellm_params`, `model_info`) whose
`api_key` lives apart, sealed (router_ext/secret_box.py). Its first key's deployment has the
channel's id, so a one-key channel reads the same everywhere (headers, explain, records); a
later key's deployment is `<channel id>.<key id>`, fixed when the key is added.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router_ext.numbers import finite_number

STORED = "smart_router_stored"  # model_info key: the stored channel a deployment comes from
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KEY_PREFIX_CHARS = 6
# LiteLLM params that carry a secret: taken out of litellm_params, sealed like api_key, never echoed.
SECRET_PARAMS = ("api_key",)
EDITABLE = ("model_name", "litellm_params", "model_info", "enabled")


class ChannelRequestError(ValueError):
    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


@dataclass(frozen=True)
class StoredKey:
    id: str
    channel_id: str
    deployment_id: str
    key_prefix: str
    created_at: dt.datetime
    sealed: str = field(repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment_id": self.deployment_id,
            "prefix": self.key_prefix + "...",
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class StoredChannel:
    id: str
    model_name: str
    litellm_params: Mapping[str, Any]
    model_info: Mapping[str, Any]
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    def public(self, keys: Sequence[StoredKey]) -> dict[str, Any]:
        mine = [k for k in keys if k.channel_id == self.id]
        return {
            "id": self.id,
            "source": "store",
            "model_name": self.model_name,
            "litellm_params": dict(self.litellm_params),
            "model_info": dict(self.model_info),
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "keys": [k.public() for k in mine],
            "deployments": [k.deployment_id for k in mine] or [self.id],
        }


@dataclass(frozen=True)
class ChannelChange:
    """A checked create or patch: the fields to write, and the key to seal (create only)."""

    fields: dict[str, Any]
    api_key: str | None = None


def key_prefix(raw: str) -> str:
    return raw[:KEY_PREFIX_CHARS]


def check_key(raw: Any, param: str = "api_key") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ChannelRequestError(
            400, "invalid_channel", f"{param}: give the upstream key as a non-empty string", param
        )
    if len(raw) > 4000 or any(c in raw for c in "\r\n"):
        raise ChannelRequestError(
            400, "invalid_channel", f"{param}: one line of at most 4,000 characters", param
        )
    return raw.strip()


def check_create(body: Any, taken: set[str], new_id: str) -> tuple[str, ChannelChange]:
    """(the channel id, what to store). `taken`: every deployment id now served (config,
    discovered, stored): a new channel may not shadow one."""
    if not isinstance(body, Mapping):
        raise ChannelRequestError(
            400, "invalid_channel", "send a JSON object: {model_name, litellm_params, model_info}"
        )
    unknown = sorted(set(body) - {"model_name", "litellm_params", "model_info", "enabled"})
    if unknown:
        raise ChannelRequestError(
            400,
            "invalid_channel",
            f"{unknown[0]}: not a channel field (model_name, litellm_params, model_info, enabled)",
            unknown[0],
        )
    for required in ("model_name", "litellm_params"):
        if required not in body:
            raise ChannelRequestError(400, "invalid_channel", f"{required}: required", required)
    change = _checked_fields(body)
    info = change.fields.get("model_info") or {}
    channel_id = str(info.pop("id", "") or new_id)
    if not ID_PATTERN.match(channel_id):
        raise ChannelRequestError(
            400,
            "invalid_channel",
            "model_info.id: 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            "model_info.id",
        )
    if channel_id in taken or any(t.startswith(channel_id + ".") for t in taken):
        raise ChannelRequestError(
            409, "channel_exists", f"model_info.id: a channel {channel_id!r} exists already", "model_info.id"
        )
    change.fields.setdefault("model_info", info)
    change.fields.setdefault("enabled", True)
    return channel_id, change


def check_patch(body: Any) -> ChannelChange:
    if not isinstance(body, Mapping) or not body:
        raise ChannelRequestError(
            400, "invalid_channel", f"send a JSON object with one or more of: {', '.join(EDITABLE)}"
        )
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise ChannelRequestError(
            400,
            "invalid_channel",
            f"{unknown[0]}: cannot be changed (editable: {', '.join(EDITABLE)})",
            unknown[0],
        )
    change = _checked_fields(body, partial=True)
    if change.api_key is not None:
        raise ChannelRequestError(
            400,
            "invalid_channel",
            "litellm_params.api_key: keys are added with POST /routing/channels/{id}/keys, not in a patch",
            "litellm_params.api_key",
        )
    info = change.fields.get("model_info")
    if isinstance(info, dict) and "id" in info:
        raise ChannelRequestError(
            400, "invalid_channel", "model_info.id: a channel's id cannot change", "model_info.id"
        )
    return change


COUNTS = frozenset(
    {
        "max_tokens", "max_input_tokens", "max_output_tokens", "rpm", "tpm", "max_parallel_requests",
        "max_retries", "daily_requests", "daily_tokens", "order",
    }
)  # fmt: skip
SECONDS = frozenset({"timeout", "stream_timeout"})
MAX_COUNT = 10**12
MAX_PRICE_USD = 1e6  # per token, second, image, ...: beyond any real price


def _check_numbers(section: str, values: Mapping[str, Any]) -> None:
    """Prices, limits and timeouts a channel is routed, billed and called by: a string where
    LiteLLM wants a number makes the channel unloadable, and 1e400, NaN or a negative price
    breaks every decision or budget that reads it."""
    for name, value in values.items():
        if value is None:
            continue
        param = f"{section}.{name}"
        if "cost_per" in name or name.endswith("_cost"):  # LiteLLM's price fields
            _check_price(param, value)
        elif name in COUNTS:
            if not finite_number(value) or not float(value).is_integer() or not 0 <= value <= MAX_COUNT:
                raise ChannelRequestError(
                    400, "invalid_channel", f"{param}: a whole number from 0 to {MAX_COUNT}", param
                )
        elif name in SECONDS:
            if not finite_number(value) or not 0 < value <= 86_400:
                raise ChannelRequestError(
                    400, "invalid_channel", f"{param}: seconds, a number above 0 and at most 86400", param
                )
        elif isinstance(value, float) and not math.isfinite(value):
            raise ChannelRequestError(400, "invalid_channel", f"{param}: a finite number", param)


CREDENTIAL_NAME = re.compile(r"(secret|password|credential|_key$|_token$|^authorization$|^x-api-key$)", re.I)


def _reference(value: Any) -> bool:
    """`os.environ/NAME`: LiteLLM reads the secret from the environment; only the name is kept."""
    return value is None or (isinstance(value, str) and value.startswith("os.environ/"))


def _credential(name: Any) -> bool:
    """azure_ad_token, aws_session_token; not a price per (reasoning, audio, ...) token."""
    return bool(CREDENTIAL_NAME.search(str(name))) and "cost" not in str(name).lower()


def _refuse_plain_credentials(params: Mapping[str, Any]) -> None:
    """Only `api_key` is sealed by the store (and shown as a prefix): any other credential
    (an AWS secret, Vertex credentials, an Authorization header) would be kept and shown in
    clear, so it is refused with where to put it instead."""
    found = [f"litellm_params.{n}" for n, v in params.items() if _credential(n) and not _reference(v)]
    for section in ("extra_headers", "headers"):
        headers = params.get(section)
        if isinstance(headers, Mapping):
            found += [
                f"litellm_params.{section}.{n}"
                for n, v in headers.items()
                if _credential(n) and not _reference(v)
            ]
    if found:
        raise ChannelRequestError(
            400,
            "invalid_channel",
            f"{found[0]}: only api_key is stored sealed; give other credentials as os.environ/NAME "
            "references (the value stays in the environment), or put the channel in config.yaml",
            found[0],
        )


def _check_price(param: str, value: Any) -> None:
    """A price, or a table of prices (LiteLLM's `search_context_cost_per_query`, tiers)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _check_price(f"{param}.{key}", inner)
        return
    if isinstance(value, list):
        for position, inner in enumerate(value):
            _check_price(f"{param}[{position}]", inner)
        return
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if not finite_number(value) or not 0 <= value <= MAX_PRICE_USD:
        raise ChannelRequestError(
            400, "invalid_channel", f"{param}: a price in USD, a number from 0 to {MAX_PRICE_USD:g}", param
        )


def _checked_fields(body: Mapping[str, Any], partial: bool = False) -> ChannelChange:
    """`partial`: a patch, whose litellm_params merge into the stored ones (no `model` needed)."""
    fields: dict[str, Any] = {}
    api_key: str | None = None
    if "model_name" in body:
        name = body["model_name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 300:
            raise ChannelRequestError(
                400, "invalid_channel", "model_name: a name of 1 to 300 characters", "model_name"
            )
        fields["model_name"] = name.strip()
    if "litellm_params" in body:
        params = body["litellm_params"]
        if not isinstance(params, Mapping):
            raise ChannelRequestError(
                400, "invalid_channel", "litellm_params: must be an object", "litellm_params"
            )
        params = copy.deepcopy(dict(params))
        model = params.get("model")
        if (model is not None or not partial) and (not isinstance(model, str) or not model.strip()):
            raise ChannelRequestError(
                400,
                "invalid_channel",
                "litellm_params.model: required, the provider and model, e.g. openai/gpt-4o-mini",
                "litellm_params.model",
            )
        base = params.get("api_base")
        if base is not None and (not isinstance(base, str) or not re.match(r"^https?://[^\s/]+", base)):
            raise ChannelRequestError(
                400, "invalid_channel", "litellm_params.api_base: an http(s) URL", "litellm_params.api_base"
            )
        _check_numbers("litellm_params", params)
        _refuse_plain_credentials({k: v for k, v in params.items() if k != "api_key"})
        if "api_key" in params:
            raw = params.pop("api_key")
            if raw is not None:
                api_key = check_key(raw, "litellm_params.api_key")
        fields["litellm_params"] = params
    if "model_info" in body:
        info = body["model_info"]
        if info is not None and not isinstance(info, Mapping):
            raise ChannelRequestError(400, "invalid_channel", "model_info: must be an object", "model_info")
        info = copy.deepcopy(dict(info or {}))
        info.pop(STORED, None)
        _check_numbers("model_info", info)
        fields["model_info"] = info
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ChannelRequestError(400, "invalid_channel", "enabled: true or false", "enabled")
        fields["enabled"] = body["enabled"]
    return ChannelChange(fields, api_key)


def deployments_of(channel: StoredChannel, keys: Sequence[tuple[StoredKey, str]]) -> list[dict[str, Any]]:
    """The LiteLLM deployments of an enabled channel: one per (key, its plain value), or one
    without a key (a local server)."""
    if not channel.enabled:
        return []

    def one(deployment_id: str, raw: str | None) -> dict[str, Any]:
        params = copy.deepcopy(dict(channel.litellm_params))
        if raw is not None:
            params["api_key"] = raw
        info = {**copy.deepcopy(dict(channel.model_info)), "id": deployment_id, STORED: channel.id}
        return {"model_name": channel.model_name, "litellm_params": params, "model_info": info}

    if not keys:
        return [one(channel.id, None)]
    return [one(key.deployment_id, raw) for key, raw in keys]
