"""Cron-scheduled jobs (discovery, prices). With several replicas on one Redis, each firing is
run by one replica only: the first to `SET job:<name>:<fire time> NX` takes it, the others skip.
Without Redis every process runs its own jobs (one process = one leader).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from router_ext.tasks import cancel_and_wait

log = logging.getLogger("smart_router")
LOCK_PREFIX = "smart_router:job:"


@dataclass
class JobRecord:
    runs: list[float] = field(default_factory=list)  # fire times this replica ran (newest 100)
    skipped: int = 0  # firings another replica took
    last_result: Any = None
    last_error: str | None = None


class Leader:
    """Who runs a firing: a Redis `SET NX` per firing, or always this process."""

    def __init__(self, redis_url: str | None) -> None:
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    async def takes(self, job: str, fire_at: float) -> bool:
        if self._redis is None:
            return True
        key = f"{LOCK_PREFIX}{job}:{int(fire_at)}"
        for attempt in (1, 2):  # the first command after a Redis restart meets a dead pooled connection
            try:
                return bool(await self._redis.set(key, self.identity, nx=True, ex=3600))
            except Exception as error:  # noqa: BLE001  # no Redis: better a duplicate run than none
                if attempt == 2:
                    log.warning(
                        "smart-router: job lock unavailable (%s); running %s here", type(error).__name__, job
                    )
        return True

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class Scheduler:
    def __init__(self, leader: Leader) -> None:
        self.leader = leader
        self.jobs: dict[str, JobRecord] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def declare(self, name: str) -> JobRecord:
        return self.jobs.setdefault(name, JobRecord())

    def add(
        self,
        name: str,
        cron: str | None,
        job: Callable[[], Awaitable[Any]],
        follow: Callable[[], Awaitable[Any]] | None = None,
        follow_delay_s: float = 5.0,
    ) -> None:
        """`follow` runs on a replica that skipped a firing, `follow_delay_s` later: it picks up
        what the leader stored (each replica has its own Router to update)."""
        self.declare(name)
        if cron:
            loop = asyncio.get_running_loop()
            self._tasks.append(loop.create_task(self._loop(name, cron, job, follow, follow_delay_s)))

    async def _loop(
        self,
        name: str,
        cron: str,
        job: Callable[[], Awaitable[Any]],
        follow: Callable[[], Awaitable[Any]] | None,
        follow_delay_s: float,
    ) -> None:
        from croniter import croniter

        schedule = croniter(cron, time.time())
        record = self.jobs[name]
        while True:
            fire_at = float(schedule.get_next(float))
            await asyncio.sleep(max(0.0, fire_at - time.time()))
            if await self.leader.takes(name, fire_at):
                await self.run(name, job, fire_at)
                continue
            record.skipped += 1
            if follow is not None:
                asyncio.get_running_loop().call_later(
                    follow_delay_s, lambda: asyncio.ensure_future(self._follow(name, follow))
                )

    async def _follow(self, name: str, follow: Callable[[], Awaitable[Any]]) -> None:
        try:
            await follow()
        except Exception:
            log.exception("smart-router: could not pick up the results of %s", name)

    async def run(self, name: str, job: Callable[[], Awaitable[Any]], fire_at: float | None = None) -> Any:
        record = self.declare(name)
        record.runs = [*record.runs[-99:], fire_at if fire_at is not None else time.time()]
        try:
            result = await job()
        except Exception as error:  # a failing job must not end its schedule
            record.last_error = f"{type(error).__name__}: {error}"
            log.exception("smart-router: scheduled job %s failed", name)
            return None
        record.last_result = result.as_dict() if hasattr(result, "as_dict") else result
        record.last_error = None
        return result

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.leader.close()

    def describe(self) -> dict[str, Any]:
        return {
            name: {
                "runs": len(r.runs),
                "run_times": r.runs[-20:],
                "skipped": r.skipped,
                "last_result": r.last_result,
                "last_error": r.last_error,
            }
            for name, r in self.jobs.items()
        }
