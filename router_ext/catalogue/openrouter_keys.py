"""Read each OpenRouter key's `GET /api/v1/key` once the catalogue jobs start: an account that
bought credits may make 1,000 free-model requests a day, not 50 (its daily window is then
counted right from the first request, not learned from a 429)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from router_ext import deployment as shape
from scrapers.fetch import FetchError
from scrapers.openrouter_key import fetch_key_info

log = logging.getLogger("smart_router")
DEFAULT_BASE = "https://openrouter.ai/api/v1"


def openrouter_keys(deployments: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(api base, key) -> the deployment ids using it."""
    found: dict[tuple[str, str], list[str]] = {}
    for deployment in deployments:
        key = shape.api_key(deployment)
        if shape.provider(deployment) != "openrouter" or not key:
            continue
        base = shape.api_base(deployment) or DEFAULT_BASE
        found.setdefault((base, key), []).append(str(shape.deployment_id(deployment)))
    return found


async def free_requests_per_day(deployments: Iterable[Mapping[str, Any]], timeout_s: float) -> dict[str, int]:
    keys = openrouter_keys(deployments)

    async def one(base: str, key: str) -> int | None:
        try:
            info = await fetch_key_info(base, key, timeout_s=timeout_s)
        except FetchError as error:
            log.warning("smart-router: OpenRouter key info not read (%s)", error)
            return None
        return info.free_requests_per_day if info else None

    answers = await asyncio.gather(*(one(base, key) for base, key in keys))
    return {
        deployment_id: per_day
        for ids, per_day in zip(keys.values(), answers, strict=True)
        if per_day is not None
        for deployment_id in ids
    }
