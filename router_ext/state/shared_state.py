"""State shared by proxy replicas: breakers, disabled keys, the active strategy, learned
rate-limit windows.

In-process by default (`LocalState`: nothing to share). With Redis, every replica pushes what
changed and pulls what others changed, in a background loop: the request path never waits on
Redis. Records merge by `updated_at` (last writer wins per channel / key / strategy). If Redis
goes away, replicas keep serving on local state, say so once, and push everything they changed
when it is back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

log = logging.getLogger("smart_router")

PREFIX = "smart-router"
BREAKERS = f"{PREFIX}:breakers"
DISABLED_KEYS = f"{PREFIX}:disabled-keys"
STRATEGY = f"{PREFIX}:strategy"
WINDOWS = f"{PREFIX}:rate-windows"  # learned rate-limit windows, per channel
CAP_USE = f"{PREFIX}:cap-use"  # + ":{period}:{window start}": what all replicas sent, per channel
CAP_USE_KEPT_S = 120.0  # a window's totals outlive it this long (then Redis drops them)
FEEDBACK = f"{PREFIX}:feedback"  # "kind|channel|good" / "|bad" -> every replica's scores, added up
FEEDBACK_SEEDED = f"{PREFIX}:feedback-seeded"  # the store's totals were added once


@dataclass
class Snapshot:
    breakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    disabled_keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # tombstones: {"disabled": false}
    strategy: dict[str, Any] | None = None  # {"name": ..., "updated_at": ...}
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # channel -> kind -> window
    # Configured caps: pushed as what this replica sent since (added up), pulled as the totals.
    cap_use: dict[str, float] = field(default_factory=dict)  # accounting.rate_limits.cap_field -> n
    # Quality feedback: pushed as what this replica heard since, pulled as everyone's totals.
    feedback: dict[str, float] = field(default_factory=dict)


class LocalState:
    """No sharing: one process is the whole truth."""

    shared = False
    connected = True

    async def push(self, changes: Snapshot) -> bool:
        return True

    async def pull(self, cap_windows: Mapping[float, float] | None = None) -> Snapshot | None:
        return None

    async def close(self) -> None:
        return None

    async def seed_feedback(self, totals: Mapping[str, float]) -> bool:
        return False


class RedisState:
    shared = True

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True
        )
        self.connected = True  # until proven otherwise

    async def push(self, changes: Snapshot) -> bool:
        for attempt in range(2):
            try:
                pipe = self.client.pipeline(transaction=False)
                if changes.breakers:
                    pipe.hset(BREAKERS, mapping={k: json.dumps(v) for k, v in changes.breakers.items()})
                if changes.disabled_keys:
                    pipe.hset(
                        DISABLED_KEYS, mapping={k: json.dumps(v) for k, v in changes.disabled_keys.items()}
                    )
                if changes.strategy is not None:
                    pipe.set(STRATEGY, json.dumps(changes.strategy))
                if changes.windows:
                    pipe.hset(WINDOWS, mapping={k: json.dumps(v) for k, v in changes.windows.items()})
                for name, amount in changes.feedback.items():
                    pipe.hincrbyfloat(FEEDBACK, name, amount)
                for name, amount in changes.cap_use.items():
                    key, period = cap_use_key(name)
                    pipe.hincrbyfloat(key, name, amount)
                    pipe.expire(key, int(period + CAP_USE_KEPT_S))
                await pipe.execute()
                break
            except Exception as error:  # noqa: BLE001  # any Redis or socket failure means: serve locally
                if self._again(attempt):
                    continue
                self._lost(error)
                return False
        self._back()
        return True

    async def pull(self, cap_windows: Mapping[float, float] | None = None) -> Snapshot | None:
        """`cap_windows`: period -> start of the configured windows whose totals to read."""
        cap_keys = [f"{CAP_USE}:{period:g}:{start:.0f}" for period, start in (cap_windows or {}).items()]
        for attempt in range(2):
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.hgetall(BREAKERS)
                pipe.hgetall(DISABLED_KEYS)
                pipe.get(STRATEGY)
                pipe.hgetall(WINDOWS)
                pipe.hgetall(FEEDBACK)
                for key in cap_keys:
                    pipe.hgetall(key)
                breakers, keys, strategy, windows, feedback, *cap_totals = await pipe.execute()
                break
            except Exception as error:  # noqa: BLE001
                if self._again(attempt):
                    continue
                self._lost(error)
                return None
        self._back()
        return Snapshot(
            breakers={k: json.loads(v) for k, v in breakers.items()},
            disabled_keys={k: json.loads(v) for k, v in keys.items()},
            strategy=json.loads(strategy) if strategy else None,
            windows={k: json.loads(v) for k, v in windows.items()},
            cap_use={k: float(v) for totals in cap_totals for k, v in totals.items()},
            feedback={k: float(v) for k, v in feedback.items()},
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def seed_feedback(self, totals: Mapping[str, float]) -> bool:
        """The store's scores into an empty shared hash, by the first replica to ask (Redis was
        new or flushed); False when another replica did, or Redis is away."""
        try:
            if not await self.client.set(FEEDBACK_SEEDED, "1", nx=True):
                return False
            if totals:
                pipe = self.client.pipeline(transaction=False)
                for name, amount in totals.items():
                    pipe.hincrbyfloat(FEEDBACK, name, amount)
                await pipe.execute()
            return True
        except Exception as error:  # noqa: BLE001
            self._lost(error)
            return False

    def _again(self, attempt: int) -> bool:
        """Retry once while connected: the first command after Redis restarted meets a dead
        pooled connection, which is not an outage (and must not be logged as one)."""
        return attempt == 0 and self.connected

    def _lost(self, error: Exception) -> None:
        if self.connected:
            log.warning(
                "smart-router: Redis unreachable (%s); serving on local state until it returns",
                type(error).__name__,
            )
        self.connected = False

    def _back(self) -> None:
        if not self.connected:
            log.warning("smart-router: Redis is back; shared state resynchronised")
        self.connected = True


def cap_use_key(name: str) -> tuple[str, float]:
    """The Redis hash holding a configured window's total, and the window's period."""
    _, _, period, start = name.rsplit("|", 3)
    return f"{CAP_USE}:{period}:{start}", float(period)


STATE_URL_VARIABLE = "SMART_ROUTER_STATE_URL"  # the embedded state server of `serve --workers`


def redis_url_from(config: dict[str, Any], configured: str | None, environ: dict[str, str]) -> str | None:
    """Our `redis_url`, else `serve --workers`' embedded server, else $REDIS_URL, else LiteLLM's
    `router_settings.redis_host/port/password`."""
    if configured:
        return configured
    if environ.get(STATE_URL_VARIABLE):
        return environ[STATE_URL_VARIABLE]
    if environ.get("REDIS_URL"):
        return environ["REDIS_URL"]
    router = config.get("router_settings") or {}
    host = router.get("redis_host")
    if not host:
        return None
    password = router.get("redis_password")
    auth = f":{quote(str(password), safe='')}@" if password else ""  # `@`, `/` or `:` in a password
    return f"redis://{auth}{host}:{router.get('redis_port') or 6379}/0"
