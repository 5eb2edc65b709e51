"""The `client_keys` table (created by the record store's migrations): SQL only, imported once the
store is up, so that SQLAlchemy stays off the proxy's start (it costs ~1 s and 16 MB)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from router_ext.client_keys import (
    KEY_PREFIX,
    AllowedModels,
    ClientKey,
    KeyRequestError,
    budget_usd,
    hash_key,
    new_raw_key,
)
from router_ext.clock import aware
from router_ext.store.record_store import client_keys


def _row_to_key(row: sa.RowMapping) -> ClientKey:
    models = json.loads(row["models"]) if row["models"] else []
    return ClientKey(
        id=row["id"],
        name=row["name"],
        key_hash=row["key_hash"],
        key_prefix=row["key_prefix"],
        created_at=aware(row["created_at"]),
        revoked_at=aware(row["revoked_at"]) if row["revoked_at"] else None,
        budget_day_usd=row["budget_day_usd"],
        budget_month_usd=row["budget_month_usd"],
        models=AllowedModels.parse(models),
    )


class KeyTable:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self,
        name: str,
        budget_day_usd: float | None = None,
        budget_month_usd: float | None = None,
        models: Sequence[str] = (),
    ) -> tuple[ClientKey, str]:
        """(the key's record, the raw key): the raw key exists only in this return value."""
        name = str(name or "").strip()
        if not name or len(name) > 200 or not name.isprintable() or not _encodable(name):
            raise KeyRequestError("name: give the key a name of 1 to 200 printable characters")
        allowed = AllowedModels.parse(list(models))
        raw = new_raw_key()
        key = ClientKey(
            id=uuid.uuid4().hex[:12],
            name=name,
            key_hash=hash_key(raw),
            key_prefix=raw[: len(KEY_PREFIX) + 4],
            created_at=dt.datetime.fromtimestamp(time.time(), tz=dt.UTC),
            budget_day_usd=budget_usd("budget_day_usd", budget_day_usd),
            budget_month_usd=budget_usd("budget_month_usd", budget_month_usd),
            models=allowed,
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                client_keys.insert().values(
                    id=key.id,
                    name=key.name,
                    key_hash=key.key_hash,
                    key_prefix=key.key_prefix,
                    created_at=key.created_at,
                    budget_day_usd=key.budget_day_usd,
                    budget_month_usd=key.budget_month_usd,
                    models=json.dumps(list(allowed.entries)) if allowed.entries else None,
                )
            )
        return key, raw

    async def all(self) -> list[ClientKey]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(client_keys).order_by(client_keys.c.created_at))).mappings()
            return [_row_to_key(row) for row in rows]

    async def by_hash(self, key_hash: str) -> ClientKey | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(client_keys).where(client_keys.c.key_hash == key_hash)))
                .mappings()
                .first()
            )
        return _row_to_key(row) if row else None

    async def revoke(self, key_id: str) -> ClientKey | None:
        """The revoked key (revoking twice keeps the first time), None when no such key."""
        now = dt.datetime.fromtimestamp(time.time(), tz=dt.UTC)
        async with self.engine.begin() as conn:
            await conn.execute(
                client_keys.update()
                .where(client_keys.c.id == key_id, client_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = (
                (await conn.execute(sa.select(client_keys).where(client_keys.c.id == key_id)))
                .mappings()
                .first()
            )
        return _row_to_key(row) if row else None


def _encodable(text: str) -> bool:
    """Not a lone surrogate (JSON allows "\ud800"; no database stores it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
