"""OpenRouter's `GET /api/v1/key`: whether the key's account ever bought credits (its daily cap
on `:free` models is then 1,000 requests instead of 50) and how much credit is left.
Shape: ../shared/fixtures/openrouter/key_info_2025.json (and the older key_info_legacy.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapers.fetch import fetch_json

FREE_TIER_DAILY = 50
CREDITED_DAILY = 1_000


@dataclass(frozen=True, slots=True)
class KeyInfo:
    free_tier: bool
    limit_remaining: float | None  # USD left under the key's own limit; None = no limit

    @property
    def free_requests_per_day(self) -> int:
        return FREE_TIER_DAILY if self.free_tier else CREDITED_DAILY


def parse_key_info(body: Any) -> KeyInfo | None:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or "is_free_tier" not in data:
        return None
    remaining = data.get("limit_remaining")
    return KeyInfo(
        bool(data["is_free_tier"]), float(remaining) if isinstance(remaining, (int, float)) else None
    )


async def fetch_key_info(
    api_base: str, api_key: str, timeout_s: float = 10.0, attempts: int = 2
) -> KeyInfo | None:
    body = await fetch_json(
        f"{api_base.rstrip('/')}/key",
        {"Authorization": f"Bearer {api_key}"},
        attempts=attempts,
        timeout_s=timeout_s,
    )
    return parse_key_info(body)
