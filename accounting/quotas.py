"""Daily request / token quotas per channel (a free tier's 50 requests a day, say).

Counted per UTC day; a channel at its quota is skipped until the day turns, then it is back
without anyone resetting it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quota:
    requests: int | None = None
    tokens: int | None = None


def utc_day(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d")


class QuotaBook:
    def __init__(self) -> None:
        self.quotas: dict[str, Quota] = {}
        self._day = ""
        self.requests: dict[str, int] = defaultdict(int)
        self.tokens: dict[str, int] = defaultdict(int)

    def set_quotas(self, quotas: dict[str, Quota]) -> None:
        self.quotas = {cid: q for cid, q in quotas.items() if q.requests is not None or q.tokens is not None}

    def _roll(self, now: dt.datetime) -> None:
        day = utc_day(now)
        if day != self._day:
            self._day = day
            self.requests.clear()
            self.tokens.clear()

    def count(self, channel_id: str, now: dt.datetime, requests: int = 0, tokens: int = 0) -> None:
        if channel_id not in self.quotas:
            return
        self._roll(now)
        self.requests[channel_id] += requests
        self.tokens[channel_id] += tokens

    def exhausted(self, now: dt.datetime) -> dict[str, str]:
        """Channel id -> why, for every channel at its quota today."""
        if not self.quotas:
            return {}
        self._roll(now)
        out = {}
        for channel_id, quota in self.quotas.items():
            if quota.requests is not None and self.requests.get(channel_id, 0) >= quota.requests:
                out[channel_id] = f"daily request quota of {quota.requests} reached"
            elif quota.tokens is not None and self.tokens.get(channel_id, 0) >= quota.tokens:
                out[channel_id] = f"daily token quota of {quota.tokens} reached"
        return out

    def remaining(self, channel_id: str, now: dt.datetime) -> dict[str, int | None]:
        quota = self.quotas.get(channel_id)
        if quota is None:
            return {"requests": None, "tokens": None}
        self._roll(now)
        return {
            "requests": None
            if quota.requests is None
            else max(quota.requests - self.requests.get(channel_id, 0), 0),
            "tokens": None if quota.tokens is None else max(quota.tokens - self.tokens.get(channel_id, 0), 0),
        }


def next_reset(now: dt.datetime) -> dt.datetime:
    start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + dt.timedelta(days=1)
