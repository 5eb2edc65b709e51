"""Before the proxy starts (`smart-router serve`): does the store hold channels, and does
`SMART_ROUTER_SECRET_KEY` open their keys? A wrong secret is a start-up error here, not keys
silently lost later. SQLite is read with the standard library (milliseconds: no SQLAlchemy on
the start path); another database through SQLAlchemy."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from router_ext.secret_box import SECRET_ENV, SecretBox, SecretKeyError

STORED_ENV = "SMART_ROUTER_STORED_CHANNELS"  # set for the proxy: how many channels the store holds


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _facts_sqlite(path: Path) -> tuple[int, int, str | None]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "stored_channels" not in tables:
            return 0, 0, None
        channels = connection.execute("SELECT count(*) FROM stored_channels").fetchone()[0]
        keys = connection.execute("SELECT count(*) FROM stored_channel_keys").fetchone()[0]
        row = connection.execute("SELECT value FROM store_meta WHERE name = 'secret_check'").fetchone()
        return int(channels), int(keys), row[0] if row else None
    finally:
        connection.close()


async def _facts_sql(url: str) -> tuple[int, int, str | None]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            if "stored_channels" not in names:
                return 0, 0, None
            channels = (await conn.execute(sa.text("SELECT count(*) FROM stored_channels"))).scalar()
            keys = (await conn.execute(sa.text("SELECT count(*) FROM stored_channel_keys"))).scalar()
            check = (
                await conn.execute(sa.text("SELECT value FROM store_meta WHERE name = 'secret_check'"))
            ).scalar()
            return int(channels or 0), int(keys or 0), check
    finally:
        await engine.dispose()


def check_store(url: str, box: SecretBox | None) -> int:
    """The number of stored channels; SecretKeyError when their keys cannot be opened. An
    unreachable database is not an error here: the proxy starts and the store retries."""
    path = _sqlite_path(url)
    try:
        if path is not None:
            if not path.exists():
                return 0
            channels, keys, check = _facts_sqlite(path)
        else:
            channels, keys, check = asyncio.run(_facts_sql(url))
    except (sqlite3.Error, OSError):
        return 0
    except Exception:  # noqa: BLE001  # the database is away: the running store will retry
        return 0
    if keys and box is None:
        raise SecretKeyError(
            f"{SECRET_ENV} is not set, but the store holds {keys} sealed upstream key(s): set it to the "
            "value they were written under"
        )
    if keys and check is not None and box is not None:  # no sealed key: nothing a new secret could lose
        box.verify(check)
    return channels
