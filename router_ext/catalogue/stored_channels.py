"""Channels added at run time (API, CLI, dashboard), applied to the running Router at once and
on every replica within about a second.

The store is the truth: a write goes to SQL first (with a new `channels_revision`), then this
replica reconciles the Router with what the store holds. Every replica polls the revision each
`POLL_S` and reconciles when it moved, so a change through any replica, or the CLI writing the
store directly, reaches all of them; the same reconcile loads the channels at start. Polling one
small row is what makes this work without Redis (replicas of one deployment share the database
anyway; `serve --workers` shares a SQLite file), and with it too.

Keys are opened (router_ext/secret_box.py) only to build the Router's deployments; they are
never logged, echoed or written back in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from router_ext import deployment as shape
from router_ext.catalogue.channel_specs import (
    STORED,
    ChannelRequestError,
    StoredChannel,
    StoredKey,
    check_create,
    check_key,
    check_patch,
    deployments_of,
)
from router_ext.catalogue.discovery import DISCOVERED
from router_ext.litellm_seam import router_registry
from router_ext.secret_box import SECRET_ENV, SecretBox, SecretKeyError
from router_ext.tasks import cancel_and_wait

log = logging.getLogger("smart_router")
POLL_S = 1.0


class ChannelSource(Protocol):
    """The SQL table (router_ext/store/channel_table.py), loaded once the store is up."""

    async def revision(self) -> str | None: ...
    async def all(self) -> tuple[list[StoredChannel], list[StoredKey]]: ...
    async def secret_check(self) -> str | None: ...
    async def key_count(self) -> int: ...
    async def set_secret_check(self, value: str) -> None: ...
    async def create(
        self, channel_id: str, fields: dict[str, Any], raw: str | None, seal: Callable[[str, str], str]
    ) -> None: ...
    async def update(self, channel_id: str, fields: dict[str, Any]) -> bool: ...
    async def delete(self, channel_id: str) -> bool: ...
    async def add_key(self, channel_id: str, raw: str, seal: Callable[[str, str], str]) -> StoredKey: ...
    async def delete_key(self, channel_id: str, key_id: str) -> bool: ...


def is_stored(deployment: Mapping[str, Any]) -> bool:
    return bool(shape.info(deployment).get(STORED))


class StoredChannels:
    def __init__(
        self,
        router: Callable[[], Any],
        box: SecretBox | None,
        changed: Callable[[bool], Awaitable[None]],
        lock: asyncio.Lock,
    ) -> None:
        """`changed(wildcards_added)`: the Router's deployments changed (re-index, prices,
        discovery). `lock`: the one the config reload holds, so both never edit the Router at once."""
        self._router = router
        self.box = box
        self._changed = changed
        self._lock = lock
        self.table: ChannelSource | None = None
        self.channels: list[StoredChannel] = []
        self.keys: list[StoredKey] = []
        self.revision: str | None = None
        self.problem: str | None = None  # why stored keys cannot be used (the secret)
        self.expected = True  # False when no store will ever attach (records off)
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def attach(self, table: ChannelSource, poll: bool = True) -> None:
        """`poll`: follow the store's changes (a proxy); the CLI reads and writes once."""
        self.table = table
        await self._check_secret()
        try:
            await self.load()
        finally:
            self._loaded.set()
        if poll and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def until_loaded(self, timeout_s: float) -> None:
        if self.expected and not self._loaded.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loaded.wait(), timeout=timeout_s)

    async def _check_secret(self) -> None:
        table = self._table()
        check, keys = await table.secret_check(), await table.key_count()
        if self.box is None:
            if keys:
                self.problem = (
                    f"{SECRET_ENV} is not set, and the store holds {keys} sealed upstream key(s): "
                    "set it to the value they were written under (see .env)"
                )
        elif check is None:
            await table.set_secret_check(self.box.check_value())
        else:
            try:
                self.box.verify(check)
            except SecretKeyError as error:
                if keys:
                    self.problem = str(error)
                else:  # no sealed key yet: the store simply takes this secret
                    await table.set_secret_check(self.box.check_value())
        if self.problem:
            log.error("smart-router: stored channels are not served: %s", self.problem)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                if await self._table().revision() != self.revision:
                    await self.load()
            except Exception as error:  # noqa: BLE001  # keep serving what is applied while the database is away
                log.warning("smart-router: stored channels not reloaded (%s)", type(error).__name__)

    # -- reading the store and applying it ---------------------------------------------------------
    async def load(self) -> None:
        table = self._table()
        revision = await table.revision()
        channels, keys = await table.all()
        self.channels, self.keys, self.revision = channels, keys, revision
        await self._apply()

    async def _apply(self) -> None:
        router = self._router()
        if router is None:
            return
        wanted: dict[str, dict[str, Any]] = {}
        for channel in self.channels:
            mine = [k for k in self.keys if k.channel_id == channel.id]
            if mine and self.problem:
                continue  # its keys cannot be opened: not served (the problem is logged and shown)
            opened = [(k, self._open(k)) for k in mine]
            for deployment in deployments_of(channel, opened):
                wanted[str(shape.deployment_id(deployment))] = deployment
        async with self._lock:
            current = {
                str(shape.deployment_id(d)): d for d in router_registry.deployments(router) if is_stored(d)
            }
            taken = {
                str(shape.deployment_id(d)) for d in router_registry.deployments(router)
            } - current.keys()
            removed = [i for i in current if i not in wanted]
            # an id the config or discovery holds already stays theirs (LiteLLM kept the first one too)
            upsert = [
                d for i, d in wanted.items() if i not in taken and not (i in current and _same(current[i], d))
            ]
            router_registry.change_deployments(router, upsert, removed)
            touched = bool(removed or upsert)
            wildcards = any(shape.is_wildcard(d) for d in upsert)
        if touched:
            await self._changed(wildcards)

    def _open(self, key: StoredKey) -> str:
        assert self.box is not None  # a key exists only when a box sealed it
        return self.box.open(key.sealed, key.id)

    # -- what the admin API and the CLI call -------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        return [c.public(self.keys) for c in self.channels]

    def stored(self, channel_id: str) -> StoredChannel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def source_of(self, deployment: Mapping[str, Any]) -> str:
        info = shape.info(deployment)
        if info.get(STORED):
            return "store"
        return "discovered" if info.get(DISCOVERED) else "config"

    async def create(self, body: Any, taken: set[str]) -> dict[str, Any]:
        table = self._writable()
        channel_id, change = check_create(
            body, taken | {c.id for c in self.channels}, "ch-" + uuid.uuid4().hex[:8]
        )
        _check_provider(change.fields["litellm_params"])
        if change.api_key is not None:
            self._sealing()
        await table.create(channel_id, change.fields, change.api_key, self._seal)
        await self.load()
        return self._public(channel_id)

    async def patch(self, channel_id: str, body: Any) -> dict[str, Any]:
        table = self._writable()
        current = self._known(channel_id)
        change = check_patch(body)
        fields = dict(change.fields)
        if "model_info" in fields:  # a patch of model_info merges; null removes a key
            merged = {**current.model_info, **fields["model_info"]}
            fields["model_info"] = {k: v for k, v in merged.items() if v is not None}
        if "litellm_params" in fields:
            merged = {**current.litellm_params, **fields["litellm_params"]}
            fields["litellm_params"] = {k: v for k, v in merged.items() if v is not None}
            _check_provider(fields["litellm_params"])
        await table.update(channel_id, fields)
        await self.load()
        return self._public(channel_id)

    async def delete(self, channel_id: str) -> dict[str, Any]:
        table = self._writable()
        self._known(channel_id)
        await table.delete(channel_id)
        await self.load()
        return {"deleted": channel_id}

    async def add_key(self, channel_id: str, raw: Any) -> dict[str, Any]:
        table = self._writable()
        self._known(channel_id)
        key = check_key(raw)
        self._sealing()
        added = await table.add_key(channel_id, key, self._seal)
        await self.load()
        return added.public()

    async def delete_key(self, channel_id: str, key_id: str) -> dict[str, Any]:
        table = self._writable()
        self._known(channel_id)
        if not await table.delete_key(channel_id, key_id):
            raise ChannelRequestError(
                404, "key_not_found", f"channel {channel_id!r} has no key {key_id!r}", "key_id"
            )
        await self.load()
        return {"deleted": key_id, "channel": channel_id}

    def _seal(self, raw: str, context: str) -> str:
        assert self.box is not None
        return self.box.seal(raw, context)

    def _sealing(self) -> None:
        if self.box is None:
            raise ChannelRequestError(
                503,
                "secret_key_missing",
                f"set {SECRET_ENV} to store upstream keys (`smart-router serve` writes one to .env on first run)",
            )

    def _writable(self) -> ChannelSource:
        if self.problem:
            raise ChannelRequestError(503, "secret_key_mismatch", self.problem)
        return self._table()

    def _table(self) -> ChannelSource:
        if self.table is None:
            raise ChannelRequestError(
                503,
                "store_unavailable",
                "the channel store is not available (records are off, or it is starting)",
            )
        return self.table

    def _known(self, channel_id: str) -> StoredChannel:
        found = self.stored(channel_id)
        if found is None:
            raise ChannelRequestError(
                404,
                "channel_not_found",
                f"no stored channel with id {channel_id!r}; see GET /routing/channels",
                "channel_id",
            )
        return found

    def _public(self, channel_id: str) -> dict[str, Any]:
        return self._known(channel_id).public(self.keys)


def _same(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """What the store says of a deployment, against what the Router holds (which gains run-time
    facts in model_info, e.g. prices and token_count_framing): compare the store's own fields."""
    wanted_info = shape.info(wanted)
    current_info = shape.info(current)
    same_info = all(current_info.get(k) == v for k, v in wanted_info.items())
    return (
        shape.model_name(current) == shape.model_name(wanted)
        and same_info
        and shape.set_params(current) == shape.set_params(wanted)
    )


def _check_provider(params: Mapping[str, Any]) -> None:
    """A model LiteLLM cannot place with a provider is a 400 now, not a failed request later."""
    import litellm

    try:
        litellm.get_llm_provider(
            model=str(params.get("model")),
            custom_llm_provider=params.get("custom_llm_provider"),
            api_base=params.get("api_base"),
        )
    except Exception:  # noqa: BLE001  # LiteLLM raises several types for an unknown provider
        raise ChannelRequestError(
            400,
            "invalid_channel",
            f"litellm_params.model: LiteLLM does not know the provider of {params.get('model')!r}; "
            "write provider/model, e.g. openai/qwen3-8b for an OpenAI-compatible server",
            "litellm_params.model",
        ) from None
