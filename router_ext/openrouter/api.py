"""`GET /api/v1/models`, `/api/v1/key`, `/api/v1/generation?id=` in OpenRouter's shapes.

- models: one entry per model name our channels serve (several keys of one model are one
  entry, priced as its cheapest channel) and one per virtual name (price `-1`, variable, as
  OpenRouter writes `openrouter/auto`; the range is in the description). Prices are USD per
  token as strings. A client key sees only what it may use.
- key: the caller's own limits and spend (a client key its budgets; the master key the global
  ones), never another key's.
- generation: our record of a request (`gen-<request id>` is the `id` of an `/api/v1` answer);
  a client key finds only its own.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request

from router_ext.client_keys import ClientKey
from router_ext.clock import utc_now
from router_ext.errors import router_error
from router_ext.state.spend_tracker import subject_of_token

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime

TEXT_PARAMETERS = [
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
]
EPOCH = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())


class Caller:
    def __init__(self, key: ClientKey | None) -> None:
        self.key = key  # None: the master key

    @property
    def subject(self) -> str | None:
        return subject_of_token(self.key.key_hash) if self.key is not None else None


async def caller_of(request: Request, runtime: RouterRuntime) -> Caller:
    from router_ext.litellm_seam.proxy_globals import master_key

    authorization = request.headers.get("authorization", "")
    presented = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    presented = presented or request.headers.get("x-api-key", "").strip()
    master = master_key()
    if not master:
        return Caller(None)  # an open proxy, as LiteLLM is without a master key
    if not presented:
        raise router_error(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
    if hmac.compare_digest(presented.encode(), str(master).encode()):
        return Caller(None)
    key = await runtime.find_client_key(presented)
    if key is None or not key.active:
        raise router_error(401, "unauthorized", "unknown or revoked API key")
    return Caller(key)


def build_openrouter_router(runtime: RouterRuntime) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["OpenRouter-compatible"])

    @router.get("/models", summary="Every model and virtual name, in OpenRouter's shape")
    async def models(request: Request) -> dict[str, Any]:
        caller = await caller_of(request, runtime)
        entries = model_entries(runtime, caller.key)
        return {"data": entries, "links": {"next": None}, "total_count": len(entries)}

    @router.get("/key", summary="The caller's own limits and spend, in OpenRouter's shape")
    async def key(request: Request) -> dict[str, Any]:
        caller = await caller_of(request, runtime)
        return {"data": key_info(runtime, caller)}

    @router.get("/generation", summary="One request's record, in OpenRouter's shape")
    async def generation(
        request: Request, id: str = Query(..., description="gen-<x-router-request-id>")
    ) -> dict[str, Any]:
        caller = await caller_of(request, runtime)
        request_id = id.removeprefix("gen-")
        store = runtime.spend.store
        if store is None or store.engine is None:
            await runtime.until_store(10.0)
            store = runtime.spend.store
        row = await store.record(request_id) if store is not None and store.engine is not None else None
        if row is None or (caller.key is not None and row.get("api_key_hash") != caller.subject):
            raise router_error(
                404,
                "not_found",
                f"no generation {id!r} (records are written a moment after the answer)",
                param="id",
            )
        return {"data": generation_entry(runtime, row)}

    return router


def model_entries(runtime: RouterRuntime, key: ClientKey | None) -> list[dict[str, Any]]:
    index = runtime.catalogue.index()
    allowed = (
        runtime.keys.allowed_mask(key, index, runtime.catalogue.generation)
        if key is not None and not key.models.unrestricted
        else None
    )
    by_name: dict[str, list[Any]] = {}
    for position, channel in enumerate(index.channels):
        if channel.mode != "chat" or (allowed is not None and not allowed[position]):
            continue
        by_name.setdefault(channel.model_name, []).append(channel)
    entries = [_model_entry(name, channels) for name, channels in sorted(by_name.items())]
    for spec in runtime.virtual_route_specs():
        if key is not None and not key.models.unrestricted and not key.models.names_model(spec.name):
            continue
        entries.append(_virtual_entry({"name": spec.name, "description": spec.description}, index, allowed))
    return entries


def _price(value: float | None) -> str:
    return "0" if not value else f"{value:.12f}".rstrip("0").rstrip(".")


def _model_entry(name: str, channels: list[Any]) -> dict[str, Any]:
    cheapest = min(channels, key=lambda c: (c.input_cost_per_token or 0.0) + (c.output_cost_per_token or 0.0))
    vision = any(c.supports_vision for c in channels)
    context = max((c.context_tokens or 0 for c in channels), default=0) or None
    parameters = list(TEXT_PARAMETERS)
    if any(c.supports_function_calling is not False for c in channels):
        parameters += ["tools", "tool_choice"]
    if any(c.supports_response_schema for c in channels):
        parameters += ["response_format", "structured_outputs"]
    return {
        "id": name,
        "canonical_slug": name,
        "hugging_face_id": "",
        "name": name,
        "created": EPOCH,
        "description": f"{len(channels)} channel(s): " + ", ".join(sorted({c.channel for c in channels})),
        "context_length": context,
        "architecture": {
            "modality": "text+image->text" if vision else "text->text",
            "input_modalities": ["text", "image"] if vision else ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": _price(cheapest.input_cost_per_token),
            "completion": _price(cheapest.output_cost_per_token),
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        },
        "top_provider": {"context_length": context, "max_completion_tokens": None, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": parameters,
        "default_parameters": None,
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{name}/endpoints"},
    }


def _virtual_entry(spec: dict[str, Any], index: Any, allowed: Any) -> dict[str, Any]:
    prices = [
        (c.input_cost_per_token or 0.0, c.output_cost_per_token or 0.0)
        for p, c in enumerate(index.channels)
        if c.mode == "chat" and c.input_cost_per_token is not None and (allowed is None or allowed[p])
    ]
    low = min(prices, default=(0.0, 0.0))
    high = max(prices, default=(0.0, 0.0))
    described = (
        f"{spec['description']}. Per token: prompt {_price(low[0])}-{_price(high[0])}, "
        f"completion {_price(low[1])}-{_price(high[1])} USD"
    )
    return {
        "id": spec["name"],
        "canonical_slug": spec["name"],
        "hugging_face_id": "",
        "name": spec["name"],
        "created": EPOCH,
        "description": described,
        "context_length": None,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Router",
            "instruct_type": None,
        },
        "pricing": {"prompt": "-1", "completion": "-1", "request": "0", "image": "0"},
        "top_provider": {"context_length": None, "max_completion_tokens": None, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": [*TEXT_PARAMETERS, "tools", "tool_choice"],
        "default_parameters": None,
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{spec['name']}/endpoints"},
    }


def key_info(runtime: RouterRuntime, caller: Caller) -> dict[str, Any]:
    now, book = utc_now(), runtime.spend.book
    if caller.key is not None:
        key = caller.key
        subject = caller.subject or ""
        spent = {p: book.spent("key", subject, p, now) for p in ("day", "month")}
        label = key.key_prefix + "..."
        limit = key.budget_month_usd if key.budget_month_usd is not None else key.budget_day_usd
        reset = (
            "monthly"
            if key.budget_month_usd is not None
            else "daily"
            if key.budget_day_usd is not None
            else None
        )
    else:
        totals = runtime.admin.global_spend()
        spent = {p: float(totals[p]) for p in ("day", "month")}
        budgets = runtime.admin.global_budgets()
        label = "master key"
        limit = budgets.get("month") if budgets.get("month") is not None else budgets.get("day")
        reset = (
            "monthly"
            if budgets.get("month") is not None
            else "daily"
            if budgets.get("day") is not None
            else None
        )
    used = spent["month"] if reset != "daily" else spent["day"]
    return {
        "label": label,
        "limit": limit,
        "limit_reset": reset,
        "limit_remaining": max(limit - used, 0.0) if limit is not None else None,
        "include_byok_in_limit": True,
        "usage": spent["month"],
        "usage_daily": spent["day"],
        "usage_weekly": spent["month"],
        "usage_monthly": spent["month"],
        "byok_usage": 0.0,
        "byok_usage_daily": 0.0,
        "byok_usage_weekly": 0.0,
        "byok_usage_monthly": 0.0,
        "is_free_tier": False,
        "is_management_key": caller.key is None,
        "is_provisioning_key": False,
        "expires_at": None,
        "creator_user_id": None,
        "organization_id": None,
        "workspace_id": None,
        "allowed_data_regions": ["global"],
        "free_model_daily_requests": {"limit": 0, "remaining": 0, "used": 0},
        "rate_limit": {
            "requests": -1,
            "interval": "10s",
            "note": "This field is deprecated and safe to ignore.",
        },
        "budgets": [],
        "effective_budget": None,
    }


def generation_entry(runtime: RouterRuntime, row: dict[str, Any]) -> dict[str, Any]:
    channel = runtime.catalogue.channel(str(row.get("deployment_id") or ""))
    created = row.get("created_at")
    latency = row.get("latency_ms")
    ttft = row.get("ttft_ms")
    cost = float(row.get("cost_usd") or 0.0)
    return {
        "id": f"gen-{row['request_id']}",
        "upstream_id": None,
        "total_cost": cost,
        "usage": cost,
        "cache_discount": None,
        "upstream_inference_cost": cost,
        "created_at": created.isoformat() if isinstance(created, dt.datetime) else str(created),
        "model": row.get("upstream_model") or row.get("requested_model"),
        "app_id": None,
        "streamed": None,
        "cancelled": row.get("status") not in ("success", None),
        "provider_name": row.get("channel") or (channel.channel if channel else None),
        "latency": int(latency) if latency is not None else None,
        "moderation_latency": None,
        "generation_time": int(latency - (ttft or 0.0)) if latency is not None else None,
        "finish_reason": None,
        "native_finish_reason": None,
        "tokens_prompt": row.get("prompt_tokens"),
        "tokens_completion": row.get("completion_tokens"),
        "native_tokens_prompt": row.get("prompt_tokens"),
        "native_tokens_completion": row.get("completion_tokens"),
        "native_tokens_completion_images": None,
        "native_tokens_reasoning": None,
        "native_tokens_cached": None,
        "num_media_prompt": None,
        "num_input_audio_prompt": None,
        "num_media_completion": None,
        "num_search_results": None,
        "num_fetches": None,
        "origin": "",
        "is_byok": True,
        "external_user": None,
        "http_referer": None,
        "user_agent": None,
        "api_type": "completions" if (row.get("endpoint") or "chat") == "chat" else row.get("endpoint"),
        "data_region": "global",
        "router": row.get("strategy"),
        "preset_id": None,
        "provider_responses": None,
        "service_tier": None,
        "web_search_engine": None,
        "workspace_id": None,
    }
