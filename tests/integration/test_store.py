"""The record store on real SQLite and a real PostgreSQL: migrations, buffering, outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from router_ext.store.record_store import MIGRATIONS, RecordStore, migrate
from scripts.stack import PostgresServer, start_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


def record(**overrides: object) -> dict:
    base = {
        "request_id": uuid.uuid4().hex[:16],
        "created_at": dt.datetime.now(dt.UTC),
        "requested_model": "auto",
        "deployment_id": "dep-a",
        "channel": "c",
        "upstream_model": "openai/m",
        "strategy": "balanced",
        "attempts": 1,
        "status": "success",
        "error_class": None,
        "latency_ms": 12.5,
        "ttft_ms": 3.0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": 0.001,
        "session": "s1",
        "api_key_hash": "h",
    }
    return {**base, **overrides}


async def count(url: str) -> int:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        value = (await conn.execute(sa.text("SELECT count(*) FROM request_records"))).scalar()
    await engine.dispose()
    return int(value or 0)


def test_an_old_sqlite_file_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"

    async def scenario() -> None:
        engine = create_async_engine(url)
        assert await migrate(engine, up_to=1) == 1
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO request_records (request_id, created_at, requested_model, status, cost_usd) "
                    "VALUES ('old-1', '2026-01-02 03:04:05', 'auto', 'success', 0.5)"
                )
            )
        await engine.dispose()
        store = RecordStore(url)
        await store.start()
        store.add(record(request_id="new-1", ttft_ms=42.0))
        assert await store.flush()
        rows = {r["request_id"]: r for r in await store.records(10, None)}
        assert rows["old-1"]["cost_usd"] == 0.5 and rows["old-1"]["ttft_ms"] is None
        assert rows["new-1"]["ttft_ms"] == 42.0
        await store.close()
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            versions = (
                (await conn.execute(sa.text("SELECT version FROM router_schema ORDER BY version")))
                .scalars()
                .all()
            )
        await engine.dispose()
        assert versions == list(range(1, len(MIGRATIONS) + 1))

    asyncio.run(scenario())


def test_writes_are_idempotent_and_daily_stats_add_up(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db"

    async def scenario() -> None:
        store = RecordStore(url)
        await store.start()
        same = record(request_id="dup")
        store.add(same)
        store.add(dict(same))
        store.add(record(status="failed", cost_usd=0.0))
        assert await store.flush()
        assert await count(url) == 2
        stats = await store.stats(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        assert stats["totals"] == {"requests": 2, "errors": 1, "tokens": 30, "cost_usd": pytest.approx(0.001)}
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            daily = (
                await conn.execute(sa.text("SELECT requests, errors, cost_usd FROM channel_daily"))
            ).one()
        await engine.dispose()
        assert (daily[0], daily[1]) == (2, 1)
        store.add(dict(same))  # written again in a later batch: still counted once
        assert await store.flush()
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT requests FROM channel_daily"))).scalar() == 2
        await engine.dispose()
        await store.close()

    asyncio.run(scenario())


def test_postgres_outage_loses_no_record(postgres: PostgresServer) -> None:
    async def scenario() -> None:
        store = RecordStore(postgres.url, flush_interval_s=0.1)
        await store.start()
        before = await count(postgres.url)
        for _ in range(50):
            store.add(record())
        await asyncio.sleep(0.5)
        postgres.stop()
        for _ in range(100):
            store.add(record())
        await asyncio.sleep(1.0)
        assert not store.healthy and store.pending == 100
        postgres.start()
        for _ in range(50):
            store.add(record())
        for _ in range(100):
            if not store.pending and store.healthy:
                break
            await asyncio.sleep(0.1)
        assert await count(postgres.url) - before == 200
        assert store.dropped == 0
        await store.close()

    asyncio.run(scenario())


def test_a_full_buffer_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    store = RecordStore(f"sqlite+aiosqlite:///{tmp_path}/never-started.db", buffer_limit=10)
    for i in range(15):
        store.add(record(request_id=f"r{i}"))
    assert store.dropped == 5
    assert store.buffer[0]["request_id"] == "r5"


def test_shutdown_flushes_the_buffer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shutdown.db"

    async def scenario() -> None:
        store = RecordStore(url, flush_interval_s=60)  # the writer would not get to them in time
        await store.start()
        for _ in range(30):
            store.add(record())
        await store.close()
        assert await count(url) == 30

    asyncio.run(scenario())


def test_overlapping_flushes_write_every_record_once(tmp_path: Path) -> None:
    # The writer, the flush a stop signal starts and the shutdown's own overlap at a proxy's
    # stop; when each read the buffer's head and popped what it wrote, two of them popped one
    # batch twice: records never written were dropped (seen as an IndexError in a bench run).
    url = f"sqlite+aiosqlite:///{tmp_path}/overlap.db"

    async def scenario() -> None:
        store = RecordStore(url, batch_size=100, flush_interval_s=60)
        await store.start()
        for _ in range(1200):
            store.add(record())
        await asyncio.gather(store.flush(), store.flush(), store.flush())  # and the writer, woken
        deadline = time.monotonic() + 30
        while store.pending:  # a batch the writer still holds (or put back) is written by it
            assert time.monotonic() < deadline, store.pending
            await asyncio.sleep(0.05)
        await store.close()
        assert await count(url) == 1200 and store.rejected == 0

    asyncio.run(scenario())


def test_rows_with_different_fields_and_a_bad_record_do_not_block_the_rest(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/mixed.db"

    async def scenario() -> None:
        store = RecordStore(url)
        await store.start()
        partial = record()
        del partial["ttft_ms"]  # a failed request has no time to first token
        store.add(partial)
        store.add(record())
        store.add(record(request_id=None))  # NOT NULL: the database refuses this one
        store.add(record())
        assert await store.flush()
        assert await count(url) == 3
        assert store.rejected == 1 and not store.buffer
        await store.close()

    asyncio.run(scenario())


def test_records_made_before_the_store_exists_are_written_at_exit(tmp_path: Path) -> None:
    """The store (and SQLAlchemy) is loaded after the proxy serves; a stop in that first second
    must not lose the records of the first answers."""
    from router_ext.settings import RouterSettings
    from router_ext.state.routing_state import RoutingState
    from router_ext.state.spend_tracker import SpendTracker
    from strategies.registry import build_strategies

    url = f"sqlite+aiosqlite:///{tmp_path}/early.db"
    tracker = SpendTracker(RouterSettings(), RoutingState(build_strategies(), "balanced"), store_url=url)
    for _ in range(3):
        tracker.record(record())
    assert tracker.store is None
    tracker.write_pending_now()
    assert asyncio.run(count(url)) == 3
    tracker.write_pending_now()  # nothing left: nothing written twice
    assert asyncio.run(count(url)) == 3


def test_starting_the_hook_does_not_load_sqlalchemy() -> None:
    """SQLAlchemy costs ~1 s and 16 MB at start; only the store (started in the background) needs it."""
    import subprocess
    import sys

    probe = (
        "import sys, router_ext.hook, router_ext.admin.routing, router_ext.client_auth;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'aiosqlite', 'asyncpg'}))"
    )
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
