"""Client API keys without LiteLLM's database: issued by us, stored only as a sha256 hash.

A key may carry daily / monthly budgets (USD) and a list of what it may use: model names
(globs such as `gpt-4o*` or `auto:free`) and tag queries (`tag:free`). A request for a name on
the list is allowed as is; a virtual name (`auto`, `tag:...`) is narrowed to the channels the
list allows; anything else is refused with 403.

`KeyRing` keeps every key in memory (the auth check runs on every request) and reloads the
table every few seconds, so keys issued or revoked by the CLI or by another replica take
effect without a restart; a revocation through this replica's admin API is immediate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fnmatch
import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from accounting.budgets import Limit
from catalog.index import Mask, TagIndex
from catalog.query import TagQuery, TagQueryError, is_tag_query, parse_tag_query
from router_ext.tasks import cancel_and_wait

log = logging.getLogger("smart_router")
KEY_PREFIX = "sk-sr-"
KEY_ID_FIELD = "smart_router_key_id"  # where our custom_auth puts the key's id in LiteLLM's auth metadata


class KeyRequestError(ValueError):
    """A key request that cannot be honoured; the message says what to fix."""


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class AllowedModels:
    """What a key may use. Empty = everything."""

    entries: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # lower-cased globs
    queries: tuple[TagQuery, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowedModels:
        names, queries = [], []
        for entry in entries:
            text = str(entry).strip()
            if not text:
                raise KeyRequestError("models: an empty entry; give a model name, a glob or a tag query")
            if is_tag_query(text):
                try:
                    queries.append(parse_tag_query(text))
                except TagQueryError as error:
                    raise KeyRequestError(f"models: {error}") from None
            else:
                names.append(text.lower())
        return cls(tuple(str(e).strip() for e in entries), tuple(names), tuple(queries))

    @property
    def unrestricted(self) -> bool:
        return not self.entries

    def names_model(self, model: str) -> bool:
        lowered = model.strip().lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.names)

    def channel_mask(self, index: TagIndex) -> Mask:
        """Channels this key may reach: a tag query matches, or a glob names the channel's model."""
        mask = np.zeros(index.size, dtype=np.bool_)
        for query in self.queries:
            mask |= index.mask(query)
        if self.names:
            for position, channel in enumerate(index.channels):
                if not mask[position] and (
                    self.names_model(channel.model_name) or self.names_model(channel.upstream_model)
                ):
                    mask[position] = True
        return mask


@dataclass(frozen=True, slots=True)
class ClientKey:
    id: str
    name: str
    key_hash: str
    key_prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    budget_day_usd: float | None = None
    budget_month_usd: float | None = None
    models: AllowedModels = field(default_factory=AllowedModels)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def limits(self) -> tuple[Limit, ...]:
        return tuple(
            Limit("key", period, usd)
            for period, usd in (("day", self.budget_day_usd), ("month", self.budget_month_usd))
            if usd is not None
        )

    def public(self) -> dict[str, object]:
        """What admins see: never the key or its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "key_prefix": self.key_prefix + "...",
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "budget_day_usd": self.budget_day_usd,
            "budget_month_usd": self.budget_month_usd,
            "models": list(self.models.entries),
        }


def budget_usd(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or value != value:
        raise KeyRequestError(f"{name}: a budget is a number of USD >= 0, got {value!r}")
    return float(value)


class KeySource(Protocol):
    """Where keys are stored (the store's `KeyTable`, SQL, loaded once the store is up)."""

    async def all(self) -> list[ClientKey]: ...

    async def by_hash(self, key_hash: str) -> ClientKey | None: ...


class KeyRing:
    """Every client key in memory, for the per-request auth check."""

    MISS_TTL_S = 2.0

    def __init__(self, refresh_s: float = 2.0) -> None:
        self.table: KeySource | None = None
        self.by_hash: dict[str, ClientKey] = {}
        self.by_id: dict[str, ClientKey] = {}
        self.refresh_s = refresh_s
        self._misses: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._masks: dict[tuple[str, int], Mask] = {}
        self.expected = True  # False when no store will ever attach (records off)
        self._loaded = asyncio.Event()

    def attach(self, table: KeySource) -> None:
        self.table = table
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def load(self) -> None:
        if self.table is None:
            return
        keys = await self.table.all()
        self.by_hash = {k.key_hash: k for k in keys}
        self.by_id = {k.id: k for k in keys}
        self._masks.clear()
        self._loaded.set()

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.load()
            except Exception as error:  # noqa: BLE001  # keep the last good set while the database is away
                log.warning("smart-router: client keys not reloaded (%s)", type(error).__name__)
            await asyncio.sleep(self.refresh_s)

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    async def find(self, raw: str) -> ClientKey | None:
        digest = hash_key(raw)
        key = self.by_hash.get(digest)
        if key is None and self.expected and not self._loaded.is_set():
            # Just started: the table is still loading; a valid key must not get a 401 now.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loaded.wait(), timeout=10.0)
            key = self.by_hash.get(digest)
        if key is not None or self.table is None:
            return key
        # A key issued a moment ago (CLI, another replica): look once, then remember the miss
        # briefly so a stream of bad keys does not become a stream of queries.
        now = time.monotonic()
        if self._misses.get(digest, 0.0) > now:
            return None
        with contextlib.suppress(Exception):
            key = await self.table.by_hash(digest)
        if key is None:
            self._misses[digest] = now + self.MISS_TTL_S
            if len(self._misses) > 10_000:
                self._misses = {d: t for d, t in self._misses.items() if t > now}
            return None
        self.put(key)
        return key

    def put(self, key: ClientKey) -> None:
        self.by_hash[key.key_hash] = key
        self.by_id[key.id] = key
        self._misses.pop(key.key_hash, None)
        self._masks = {k: m for k, m in self._masks.items() if k[0] != key.id}

    def allowed_mask(self, key: ClientKey, index: TagIndex, generation: int) -> Mask:
        cached = self._masks.get((key.id, generation))
        if cached is None:
            if len(self._masks) > 1000:
                self._masks.clear()
            cached = self._masks[(key.id, generation)] = key.models.channel_mask(index)
        return cached
