"""`/routing/channels` writes: stored channels and their keys, and what a config channel allows
(disable / enable, a test; its definition lives in the file). Errors are our 4xx / 503 with a
message that says what to fix; a key is never echoed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from router_ext import deployment as shape
from router_ext.catalogue.channel_probe import probe_deployment
from router_ext.catalogue.channel_specs import ChannelRequestError
from router_ext.catalogue.stored_channels import StoredChannels
from router_ext.errors import router_error
from router_ext.state.channel_health import ChannelHealth

T = TypeVar("T")
STORE_WAIT_S = 10.0


class ChannelAdmin:
    def __init__(
        self,
        stored: StoredChannels,
        health: ChannelHealth,
        deployments: Callable[[], Sequence[Mapping[str, Any]]],
        start_store: Callable[[], None],
        secrets: Callable[[], Iterable[str]],
    ) -> None:
        self.stored = stored
        self.health = health
        self._deployments = deployments
        self._start_store = start_store
        self._secrets = secrets

    async def listing(self) -> dict[str, Any]:
        await self._ready()
        return {"channels": self.stored.listing(), "problem": self.stored.problem}

    async def create(self, body: Any) -> dict[str, Any]:
        await self._ready()
        taken = set(shape.ids(self._deployments()))
        return await _answer(self.stored.create(body, taken))

    async def patch(self, channel_id: str, body: Any) -> dict[str, Any]:
        await self._ready()
        if self.stored.stored(channel_id) is None:
            return self._patch_config_channel(channel_id, body)
        return await _answer(self.stored.patch(channel_id, body))

    async def delete(self, channel_id: str) -> dict[str, Any]:
        await self._ready()
        if self.stored.stored(channel_id) is None:
            raise self._config_only(channel_id, "deleted")
        return await _answer(self.stored.delete(channel_id))

    async def add_key(self, channel_id: str, body: Any) -> dict[str, Any]:
        await self._ready()
        if self.stored.stored(channel_id) is None:
            raise self._config_only(channel_id, "given keys")
        raw = body.get("api_key") if isinstance(body, dict) else None
        return await _answer(self.stored.add_key(channel_id, raw))

    async def delete_key(self, channel_id: str, key_id: str) -> dict[str, Any]:
        await self._ready()
        if self.stored.stored(channel_id) is None:
            raise self._config_only(channel_id, "changed")
        return await _answer(self.stored.delete_key(channel_id, key_id))

    async def test(self, channel_id: str) -> dict[str, Any]:
        """Every deployment of the channel (a stored channel with several keys has several)."""
        found = self._deployments_of(channel_id)
        results = await asyncio.gather(*(probe_deployment(d, self._secrets()) for d in found))
        return {"channel": channel_id, "ok": all(r["ok"] for r in results), "results": list(results)}

    # -- helpers ---------------------------------------------------------------------------------
    def _deployments_of(self, channel_id: str) -> list[Any]:
        everything = self._deployments()
        found = [d for d in everything if shape.deployment_id(d) == channel_id]
        if not found:
            found = [d for d in everything if shape.info(d).get("smart_router_stored") == channel_id]
        if not found:
            raise router_error(
                404,
                "channel_not_found",
                f"no channel with id {channel_id!r}; see GET /routing/channels",
                param="channel_id",
            )
        return found

    def _patch_config_channel(self, channel_id: str, body: Any) -> dict[str, Any]:
        self._deployments_of(channel_id)
        if isinstance(body, dict) and set(body) == {"enabled"} and isinstance(body["enabled"], bool):
            now = time.time()
            if body["enabled"]:
                self.health.enable(channel_id, now)
            else:
                self.health.disable(channel_id, now)
            return {"id": channel_id, "source": "config", "enabled": body["enabled"]}
        raise self._config_only(channel_id, "changed")

    def _config_only(self, channel_id: str, what: str) -> Exception:
        """The 409 for a config channel (a 404 when there is no such channel at all)."""
        self._deployments_of(channel_id)
        return router_error(
            409,
            "config_channel",
            f"channel {channel_id!r} comes from the config file and cannot be {what} here: edit the file "
            'and POST /routing/reload (or send SIGHUP; not on Windows); it can be disabled with PATCH {"enabled": false}',
            param="channel_id",
        )

    async def _ready(self) -> None:
        """Right after a start the store may not be up yet: start it and wait (briefly)."""
        if self.stored.table is None and self.stored.expected:
            self._start_store()
            with contextlib.suppress(TimeoutError):
                await self.stored.until_loaded(STORE_WAIT_S)


async def _answer(action: Awaitable[T]) -> T:
    try:
        return await action
    except ChannelRequestError as error:
        raise router_error(error.status, error.code, error.message, param=error.param) from None
    except Exception as error:  # driver errors vary by database
        if getattr(error, "smart_router", False):
            raise
        raise router_error(
            503,
            "store_unavailable",
            f"the channel store is unreachable ({type(error).__name__}); nothing was changed",
        ) from None
