"""The stored channels and their sealed keys (tables made by the record store's migrations). SQL
only; every write bumps `store_meta.channels_revision` in the same transaction, which is what
other replicas poll to notice a change."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from router_ext.catalogue.channel_specs import StoredChannel, StoredKey, key_prefix
from router_ext.clock import aware
from router_ext.store.record_store import store_meta, stored_channel_keys, stored_channels

Seal = Callable[[str, str], str]  # (plain key, its row id as context) -> sealed value
REVISION = "channels_revision"
SECRET_CHECK = "secret_check"


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time(), tz=dt.UTC)


def _channel(row: sa.RowMapping) -> StoredChannel:
    return StoredChannel(
        id=row["id"],
        model_name=row["model_name"],
        litellm_params=json.loads(row["litellm_params"]),
        model_info=json.loads(row["model_info"]),
        enabled=bool(row["enabled"]),
        created_at=aware(row["created_at"]),
        updated_at=aware(row["updated_at"]),
    )


def _key(row: sa.RowMapping) -> StoredKey:
    return StoredKey(
        id=row["id"],
        channel_id=row["channel_id"],
        deployment_id=row["deployment_id"],
        key_prefix=row["key_prefix"],
        created_at=aware(row["created_at"]),
        sealed=row["sealed_key"],
    )


async def _meta(conn: AsyncConnection, name: str) -> str | None:
    return (await conn.execute(sa.select(store_meta.c.value).where(store_meta.c.name == name))).scalar()


async def _set_meta(conn: AsyncConnection, name: str, value: str) -> None:
    updated = await conn.execute(store_meta.update().where(store_meta.c.name == name).values(value=value))
    if not updated.rowcount:
        await conn.execute(store_meta.insert().values(name=name, value=value))


async def _bump(conn: AsyncConnection) -> None:
    # A fresh random value, not a counter: two replicas writing at once still both show a change.
    await _set_meta(conn, REVISION, uuid.uuid4().hex)


class ChannelTable:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- reads -----------------------------------------------------------------------------------
    async def revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await _meta(conn, REVISION)

    async def all(self) -> tuple[list[StoredChannel], list[StoredKey]]:
        async with self.engine.connect() as conn:
            channels = (
                await conn.execute(sa.select(stored_channels).order_by(stored_channels.c.created_at))
            ).mappings()
            keys = (
                await conn.execute(sa.select(stored_channel_keys).order_by(stored_channel_keys.c.created_at))
            ).mappings()
            return [_channel(r) for r in channels], [_key(r) for r in keys]

    async def secret_check(self) -> str | None:
        async with self.engine.connect() as conn:
            return await _meta(conn, SECRET_CHECK)

    async def key_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(stored_channel_keys))).scalar()
                or 0
            )

    # -- writes ----------------------------------------------------------------------------------
    async def set_secret_check(self, value: str) -> None:
        async with self.engine.begin() as conn:
            await _set_meta(conn, SECRET_CHECK, value)

    async def create(self, channel_id: str, fields: dict[str, Any], raw: str | None, seal: Seal) -> None:
        now = _now()
        async with self.engine.begin() as conn:
            await conn.execute(
                stored_channels.insert().values(
                    id=channel_id,
                    model_name=fields["model_name"],
                    litellm_params=json.dumps(fields["litellm_params"]),
                    model_info=json.dumps(fields.get("model_info") or {}),
                    enabled=bool(fields.get("enabled", True)),
                    created_at=now,
                    updated_at=now,
                )
            )
            if raw is not None:
                await self._insert_key(conn, channel_id, channel_id, raw, seal)
            await _bump(conn)

    async def update(self, channel_id: str, fields: dict[str, Any]) -> bool:
        values: dict[str, Any] = {"updated_at": _now()}
        for name in ("litellm_params", "model_info"):
            if name in fields:
                values[name] = json.dumps(fields[name])
        if "model_name" in fields:
            values["model_name"] = fields["model_name"]
        if "enabled" in fields:
            values["enabled"] = bool(fields["enabled"])
        async with self.engine.begin() as conn:
            done = await conn.execute(
                stored_channels.update().where(stored_channels.c.id == channel_id).values(**values)
            )
            if done.rowcount:
                await _bump(conn)
            return bool(done.rowcount)

    async def delete(self, channel_id: str) -> bool:
        async with self.engine.begin() as conn:
            await conn.execute(
                stored_channel_keys.delete().where(stored_channel_keys.c.channel_id == channel_id)
            )
            done = await conn.execute(stored_channels.delete().where(stored_channels.c.id == channel_id))
            if done.rowcount:
                await _bump(conn)
            return bool(done.rowcount)

    async def add_key(self, channel_id: str, raw: str, seal: Seal) -> StoredKey:
        async with self.engine.begin() as conn:
            existing = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(stored_channel_keys)
                    .where(stored_channel_keys.c.channel_id == channel_id)
                )
            ).scalar()
            key_id = uuid.uuid4().hex[:8]
            deployment_id = channel_id if not existing else f"{channel_id}.{key_id}"
            key = await self._insert_key(conn, channel_id, deployment_id, raw, seal, key_id)
            await conn.execute(
                stored_channels.update().where(stored_channels.c.id == channel_id).values(updated_at=_now())
            )
            await _bump(conn)
            return key

    async def delete_key(self, channel_id: str, key_id: str) -> bool:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                stored_channel_keys.delete().where(
                    stored_channel_keys.c.channel_id == channel_id, stored_channel_keys.c.id == key_id
                )
            )
            if done.rowcount:
                await _bump(conn)
            return bool(done.rowcount)

    async def reseal(self, reseal: Callable[[StoredKey], str], check_value: str) -> int:
        """Every key sealed again (a new secret), in one transaction: all or nothing."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(sa.select(stored_channel_keys))).mappings().all()
            for row in rows:
                key = _key(row)
                await conn.execute(
                    stored_channel_keys.update()
                    .where(stored_channel_keys.c.id == key.id)
                    .values(sealed_key=reseal(key))
                )
            await _set_meta(conn, SECRET_CHECK, check_value)
            await _bump(conn)
            return len(rows)

    @staticmethod
    async def _insert_key(
        conn: AsyncConnection,
        channel_id: str,
        deployment_id: str,
        raw: str,
        seal: Seal,
        key_id: str | None = None,
    ) -> StoredKey:
        key = StoredKey(
            id=key_id or uuid.uuid4().hex[:8],
            channel_id=channel_id,
            deployment_id=deployment_id,
            key_prefix=key_prefix(raw),
            created_at=_now(),
            sealed="",
        )
        sealed = seal(raw, key.id)
        await conn.execute(
            stored_channel_keys.insert().values(
                id=key.id,
                channel_id=channel_id,
                deployment_id=deployment_id,
                sealed_key=sealed,
                key_prefix=key.key_prefix,
                created_at=key.created_at,
            )
        )
        return StoredKey(key.id, channel_id, deployment_id, key.key_prefix, key.created_at, sealed)
