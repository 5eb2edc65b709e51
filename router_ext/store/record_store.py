"""Request records in SQL (SQLAlchemy async): SQLite by default, PostgreSQL in production.

Never on the request path, never lost: `add()` only appends to a bounded in-memory buffer; a
background task writes batches. While the database is unreachable, records wait (and the
writer retries with backoff); on shutdown the buffer is flushed; if the bound is hit, the oldest
records are dropped, counted, and logged loudly. Inserts are idempotent on `request_id`, so a
batch retried after a partial failure is not written twice.

The schema is created and migrated on start: `router_schema.version` says which of MIGRATIONS
ran; an old file is upgraded in place.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from router_ext.clock import aware
from router_ext.exit_signals import intercept_exit_signals
from router_ext.settings import DEFAULT_DATABASE_URL

log = logging.getLogger("smart_router")

DEFAULT_URL = DEFAULT_DATABASE_URL
TIER_ORDER = {"simple": 0, "medium": 1, "complex": 2, "reasoning": 3}
metadata = sa.MetaData()

schema = sa.Table("router_schema", metadata, sa.Column("version", sa.Integer, nullable=False))
requests = sa.Table(
    "request_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("requested_model", sa.String(300)),
    sa.Column("deployment_id", sa.String(300), index=True),
    sa.Column("channel", sa.String(200)),
    sa.Column("upstream_model", sa.String(300)),
    sa.Column("strategy", sa.String(64)),
    sa.Column("attempts", sa.Integer),
    sa.Column("status", sa.String(32)),
    sa.Column("error_class", sa.String(32)),
    sa.Column("latency_ms", sa.Float),
    sa.Column("ttft_ms", sa.Float),
    sa.Column("prompt_tokens", sa.Integer),
    sa.Column("completion_tokens", sa.Integer),
    sa.Column("cost_usd", sa.Float),
    sa.Column("session", sa.String(300), index=True),
    sa.Column("api_key_hash", sa.String(128)),
    sa.Column("endpoint", sa.String(32)),  # chat, responses, messages, embeddings, completions
    sa.Column("rule", sa.String(200)),  # the scenario rule that routed it (smart_router.rules)
    sa.Column("hedge", sa.String(1000)),  # JSON of a hedged stream's race (router_ext/runtime/hedging.py)
    sa.Column("tier", sa.String(16)),  # the prompt's difficulty tier (strategies/difficulty.py)
    sa.Column("kind", sa.String(16)),  # the prompt's kind
    sa.Column("baseline_cost_usd", sa.Float),  # what the strongest priced channel would have cost
    sa.Column("quality", sa.Float),  # the serving channel's quality (prior) when it served
    sa.Column("ticket", sa.Text),  # JSON: why a virtual name went where it went (runtime/tickets.py)
    sa.Column("app", sa.String(200)),  # the client app: X-OpenRouter-Title / X-Title, else HTTP-Referer
)
feedback = sa.Table(
    "quality_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("deployment_id", sa.String(300), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # api | header
)
channel_daily = sa.Table(
    "channel_daily",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("deployment_id", sa.String(300), primary_key=True),
    sa.Column("requests", sa.Integer, nullable=False, default=0),
    sa.Column("errors", sa.Integer, nullable=False, default=0),
    sa.Column("tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0),
)

client_keys = sa.Table(
    "client_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # sha256 of the key: the key itself is shown once and never stored.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("budget_day_usd", sa.Float),
    sa.Column("budget_month_usd", sa.Float),
    sa.Column("models", sa.Text),  # JSON list of allowed names / tag queries; NULL = all
)

# The last good listing of each wildcard channel: routing works at once after a restart.
discovered_models = sa.Table(
    "discovered_models",
    metadata,
    sa.Column("source", sa.String(300), primary_key=True),
    sa.Column("model_id", sa.String(300), primary_key=True),
    sa.Column("context_tokens", sa.Integer),
    sa.Column("params_b", sa.Float),
    sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
)
# Every price seen, per channel: the newest row per (channel, model) is the current price.
price_history = sa.Table(
    "price_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(200), nullable=False, index=True),
    sa.Column("model_id", sa.String(300), nullable=False),
    sa.Column("input_per_token", sa.Float, nullable=False),
    sa.Column("output_per_token", sa.Float, nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
)
# Channels added at run time (API, CLI, dashboard): a LiteLLM deployment without its key.
stored_channels = sa.Table(
    "stored_channels",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("model_name", sa.String(300), nullable=False),
    sa.Column("litellm_params", sa.Text, nullable=False),  # JSON, never an api_key
    sa.Column("model_info", sa.Text, nullable=False),  # JSON
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# Its upstream keys, sealed (router_ext/secret_box.py); several keys form a rotation pool.
stored_channel_keys = sa.Table(
    "stored_channel_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("channel_id", sa.String(100), nullable=False, index=True),
    sa.Column("deployment_id", sa.String(140), nullable=False, unique=True),
    sa.Column("sealed_key", sa.Text, nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
# Small facts about the store itself: the secret check value, the channels' revision.
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


async def _v1(conn: AsyncConnection) -> None:
    """The first schema: request records without time to first token or the key hash."""
    await conn.execute(
        sa.text(
            "CREATE TABLE IF NOT EXISTS request_records (id INTEGER PRIMARY KEY, request_id VARCHAR(64) NOT NULL UNIQUE, "
            "created_at TIMESTAMP WITH TIME ZONE NOT NULL, requested_model VARCHAR(300), deployment_id VARCHAR(300), "
            "channel VARCHAR(200), upstream_model VARCHAR(300), strategy VARCHAR(64), attempts INTEGER, "
            "status VARCHAR(32), error_class VARCHAR(32), latency_ms FLOAT, prompt_tokens INTEGER, "
            "completion_tokens INTEGER, cost_usd FLOAT, session VARCHAR(300))"
            if conn.dialect.name == "sqlite"
            else "CREATE TABLE IF NOT EXISTS request_records (id SERIAL PRIMARY KEY, request_id VARCHAR(64) NOT NULL UNIQUE, "
            "created_at TIMESTAMP WITH TIME ZONE NOT NULL, requested_model VARCHAR(300), deployment_id VARCHAR(300), "
            "channel VARCHAR(200), upstream_model VARCHAR(300), strategy VARCHAR(64), attempts INTEGER, "
            "status VARCHAR(32), error_class VARCHAR(32), latency_ms FLOAT, prompt_tokens INTEGER, "
            "completion_tokens INTEGER, cost_usd FLOAT, session VARCHAR(300))"
        )
    )
    await conn.execute(
        sa.text("CREATE INDEX IF NOT EXISTS ix_request_records_created_at ON request_records (created_at)")
    )
    await conn.execute(
        sa.text("CREATE INDEX IF NOT EXISTS ix_request_records_session ON request_records (session)")
    )
    await conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_request_records_deployment_id ON request_records (deployment_id)"
        )
    )
    await conn.run_sync(lambda sync: channel_daily.create(sync, checkfirst=True))


async def _v2(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN ttft_ms FLOAT"))
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN api_key_hash VARCHAR(128)"))


async def _v3(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: client_keys.create(sync, checkfirst=True))


async def _v4(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: discovered_models.create(sync, checkfirst=True))
    await conn.run_sync(lambda sync: price_history.create(sync, checkfirst=True))


async def _v5(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN endpoint VARCHAR(32)"))
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN rule VARCHAR(200)"))


async def _v6(conn: AsyncConnection) -> None:
    def create(sync: Any) -> None:
        for table in (stored_channels, stored_channel_keys, store_meta):
            table.create(sync, checkfirst=True)

    await conn.run_sync(create)


async def _v7(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN hedge VARCHAR(1000)"))


async def _v8(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN tier VARCHAR(16)"))
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN kind VARCHAR(16)"))
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN baseline_cost_usd FLOAT"))
    await conn.run_sync(lambda sync: feedback.create(sync, checkfirst=True))


async def _v9(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN quality FLOAT"))


async def _v10(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN ticket TEXT"))


async def _v11(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("ALTER TABLE request_records ADD COLUMN app VARCHAR(200)"))


MIGRATIONS: list[Callable[[AsyncConnection], Any]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11]


async def migrate(engine: AsyncEngine, up_to: int | None = None) -> int:
    """Bring the schema to the newest version (or `up_to`); returns the version reached."""
    target = len(MIGRATIONS) if up_to is None else up_to
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: schema.create(sync, checkfirst=True))
        version = (await conn.execute(sa.select(sa.func.max(schema.c.version)))).scalar() or 0
        for number in range(version + 1, target + 1):
            await MIGRATIONS[number - 1](conn)
            await conn.execute(schema.insert().values(version=number))
            log.info("smart-router: database schema migrated to version %d", number)
        return max(version, target)


SQLITE_LOCK_WAIT_S = 30.0


class RecordStore:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        buffer_limit: int = 50_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
    ) -> None:
        self.url = url
        self.buffer: deque[dict[str, Any]] = deque()
        self.buffer_limit = buffer_limit
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.dropped = 0
        self.rejected = 0
        self.healthy = True
        self.engine: AsyncEngine | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._in_flight = 0  # records taken off the buffer by a flush that is writing them
        self._outage = ""  # the error of the last write an outage stopped
        self.on_drained: Callable[[], None] | None = None  # everything added so far is written

    # -- lifecycle -------------------------------------------------------------------------------
    async def open_engine(self) -> None:
        if self.url.startswith("sqlite") and ":///" in self.url:
            path = self.url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        # SQLite: our own flushes may overlap (the writer, a stop signal's, the shutdown's), and
        # each waits for the others' write lock rather than failing at sqlite3's 5 s as an outage.
        options = {"connect_args": {"timeout": SQLITE_LOCK_WAIT_S}} if self.url.startswith("sqlite") else {}
        self.engine = create_async_engine(self.url, pool_pre_ping=True, **options)

    async def start(self) -> None:
        await self.open_engine()
        await self._with_retry(lambda: migrate(self._engine()), "migrate")
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._writer())
        atexit.register(self.flush_at_exit)
        self._flush_on_signals(loop)

    def _flush_on_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a flush when the signal arrives, while the loop still runs (the shutdown waits
        for in-flight requests), then let uvicorn handle the signal."""

        def on_exit(proceed: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(self.flush(attempts=3)))
            proceed()

        intercept_exit_signals(on_exit)

    @property
    def running(self) -> bool:
        return self._task is not None

    def flush_at_exit(self, migrate_first: bool = False) -> None:
        """Last chance on shutdown: the proxy's event loop may be gone without cancelling our
        writer (or may still be running, when called from a signal handler), so write what is
        left with a fresh loop and engine, in a thread of its own. `migrate_first`: the store
        never started, so the tables may not exist yet."""
        if not self.buffer:
            return

        async def write_rest() -> None:
            self.engine = create_async_engine(self.url)
            try:
                if migrate_first:  # the store's own start may be migrating at the same moment
                    for attempt in range(5):
                        try:
                            await migrate(self.engine)
                            break
                        except Exception:
                            if attempt == 4:
                                raise
                            await asyncio.sleep(0.2)
                await self.flush(attempts=3)
            finally:
                await self.engine.dispose()

        failed: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(write_rest())
            except Exception as error:  # noqa: BLE001  # at exit there is nobody left to raise to
                failed.append(error)

        writer = threading.Thread(target=run, name="smart-router-exit-flush")
        writer.start()
        writer.join()
        if failed:
            log.error("smart-router: could not flush records at exit: %s", type(failed[0]).__name__)
        if self.buffer:
            log.error("smart-router: %d record(s) could not be written at exit", len(self.buffer))
        else:
            log.warning("smart-router: flushed the remaining records at exit")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(attempts=3)
        if self.engine is not None:
            await self.engine.dispose()

    # -- hot path --------------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> None:
        # Every row with every column: a multi-row INSERT needs the same keys in each row.
        record = {name: record.get(name) for name in RECORD_COLUMNS}
        if len(self.buffer) >= self.buffer_limit:
            self.buffer.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "smart-router: RECORD BUFFER FULL (%d records waiting for the database); "
                    "%d record(s) dropped so far",
                    len(self.buffer),
                    self.dropped,
                )
        self.buffer.append(record)
        if len(self.buffer) >= self.batch_size:
            self._wake.set()

    # -- writing ---------------------------------------------------------------------------------
    async def _writer(self) -> None:
        backoff = self.flush_interval_s
        try:
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                self._wake.clear()
                ok = await self.flush()
                backoff = self.flush_interval_s if ok else min(backoff * 2, 5.0)
        except asyncio.CancelledError:
            # The proxy is shutting down (its event loop cancels every task before it closes):
            # write what is buffered while the loop still runs.
            if self.buffer:
                await self.flush(attempts=3)
                log.warning("smart-router: flushed records on shutdown (%d left unwritten)", len(self.buffer))
            raise

    @property
    def pending(self) -> int:
        """Records not yet written: buffered, or in a batch being written now."""
        return len(self.buffer) + self._in_flight

    async def flush(self, attempts: int = 1) -> bool:
        """Write everything buffered; during an outage keep it (and say so once).

        Flushes overlap (the writer, the flush a stop signal starts, the one at shutdown), so
        each batch is taken off the buffer before it is written and put back at its head when
        it is not: no two flushes write one record, and none removes a record another wrote
        not. (Reading the head, writing, then popping that many lost records: two flushes
        popped the same count twice, an IndexError at a proxy's stop.)"""
        failures = 0
        while self.buffer:
            batch = self._take(self.batch_size)
            self._in_flight += len(batch)
            try:
                unwritten = await self._write_batch(batch)
            except BaseException:
                self._put_back(batch)  # cancelled mid-write; written again by request id, once
                raise
            finally:
                self._in_flight -= len(batch)
            if not unwritten:
                continue
            self._put_back(unwritten)
            if self.healthy:
                log.warning(
                    "smart-router: database unreachable (%s); %d record(s) kept in memory until it returns",
                    self._outage,
                    self.pending,
                )
            self.healthy = False
            failures += 1
            if failures >= attempts:
                return False
            await asyncio.sleep(0.2)
        if not self.healthy:
            log.warning("smart-router: database is back; buffered records written")
        self.healthy = True
        if self.on_drained is not None and self._in_flight == 0:
            self.on_drained()
        return True

    def _take(self, count: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        with contextlib.suppress(IndexError):  # another flush (the exit one, in its thread) took the rest
            while len(batch) < count:
                batch.append(self.buffer.popleft())
        return batch

    def _put_back(self, records: list[dict[str, Any]]) -> None:
        self.buffer.extendleft(reversed(records))

    async def _write_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of `batch` an outage left unwritten. A batch the database refuses (not an
        outage) is written one by one: the records it rejects are dropped and counted, so one
        bad record never blocks the rest."""
        if not batch:
            return []
        try:
            await self._write(batch)
            return []
        except Exception as error:  # noqa: BLE001  # any driver / network error: keep the records
            if _is_outage(error):
                self._outage = type(error).__name__
                return batch
        for at, record in enumerate(batch):
            try:
                await self._write([record])
            except Exception as error:  # noqa: BLE001
                if _is_outage(error):
                    self._outage = type(error).__name__
                    return batch[at:]
                self.rejected += 1
                log.error(
                    "smart-router: the database rejected record %s: %s", record.get("request_id"), error
                )
        return []

    async def _write(self, batch: Sequence[dict[str, Any]]) -> None:
        """One transaction: new records, and the daily counters of those actually inserted
        (a record already written, say by a retried batch, counts once)."""
        engine = self._engine()
        unique = list({record["request_id"]: record for record in batch}.values())
        async with engine.begin() as conn:
            insert = _insert(conn)
            statement = (
                insert(requests)
                .values(unique)
                .on_conflict_do_nothing(index_elements=["request_id"])
                .returning(requests.c.request_id)
            )
            inserted = set((await conn.execute(statement)).scalars().all())
            fresh = [record for record in unique if record["request_id"] in inserted]
            for (day, deployment), numbers in _daily(fresh).items():
                upsert = insert(channel_daily).values(day=day, deployment_id=deployment, **numbers)
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["day", "deployment_id"],
                        set_={
                            name: getattr(channel_daily.c, name) + getattr(upsert.excluded, name)
                            for name in numbers
                        },
                    )
                )

    def _engine(self) -> AsyncEngine:
        if self.engine is None:
            raise RuntimeError("the record store is not started")
        return self.engine

    async def _with_retry(self, action: Callable[[], Any], what: str, attempts: int = 20) -> Any:
        for attempt in range(attempts):
            try:
                return await action()
            except Exception as error:
                if attempt == attempts - 1:
                    raise
                log.warning("smart-router: database %s failed (%s); retrying", what, type(error).__name__)
                await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
        return None

    # -- reading ---------------------------------------------------------------------------------
    async def records(
        self, limit: int, session: str | None, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        query = sa.select(requests).order_by(requests.c.id.desc()).limit(limit)
        if session:
            query = query.where(requests.c.session == session)
        if before_id:
            query = query.where(requests.c.id < before_id)
        async with self._engine().connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(row) for row in rows]

    async def stats(self, since: dt.datetime, strong_from: float = 0.55) -> dict[str, Any]:
        """`strong_from`: the quality from which a serving channel counts as strong (by tier)."""
        r = requests.c
        errors = sa.func.sum(sa.case((r.status != "success", 1), else_=0))
        tokens = sa.func.coalesce(sa.func.sum(r.prompt_tokens + r.completion_tokens), 0)
        cost = sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0)
        free = sa.func.sum(sa.case((r.cost_usd == 0, 1), else_=0))
        where = r.created_at >= since
        async with self._engine().connect() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count(), errors, tokens, cost, free).where(where))
            ).one()
            by_model = (
                await conn.execute(
                    sa.select(r.upstream_model, sa.func.count(), errors, tokens, cost)
                    .where(where)
                    .group_by(r.upstream_model)
                    .order_by(sa.func.count().desc())
                )
            ).all()
            by_channel = (
                await conn.execute(
                    sa.select(r.deployment_id, sa.func.count(), errors, tokens, cost)
                    .where(where)
                    .group_by(r.deployment_id)
                    .order_by(sa.func.count().desc())
                )
            ).all()
            by_endpoint = (
                await conn.execute(
                    sa.select(sa.func.coalesce(r.endpoint, "chat"), sa.func.count(), errors, tokens, cost)
                    .where(where)
                    .group_by(sa.func.coalesce(r.endpoint, "chat"))
                    .order_by(sa.func.count().desc())
                )
            ).all()
            by_app = (
                await conn.execute(
                    sa.select(r.app, sa.func.count(), errors, tokens, cost)
                    .where(where & r.app.is_not(None))
                    .group_by(r.app)
                    .order_by(sa.func.count().desc())
                    .limit(50)
                )
            ).all()
            by_tier = (
                await conn.execute(
                    sa.select(
                        r.tier,
                        sa.func.count(),
                        errors,
                        tokens,
                        cost,
                        free,
                        sa.func.coalesce(sa.func.sum(r.baseline_cost_usd), 0.0),
                        # what the strongest would have cost, for the requests that had one
                        sa.func.coalesce(
                            sa.func.sum(sa.case((r.baseline_cost_usd.is_not(None), r.cost_usd), else_=0.0)),
                            0.0,
                        ),
                        sa.func.sum(sa.case(((r.cost_usd > 0) & (r.quality >= strong_from), 1), else_=0)),
                    )
                    .where(where & r.tier.is_not(None))
                    .group_by(r.tier)
                )
            ).all()

        def rows(result: Sequence[Any], key: str) -> list[dict[str, Any]]:
            return [
                {
                    key: row[0],
                    "requests": row[1],
                    "errors": int(row[2] or 0),
                    "tokens": int(row[3] or 0),
                    "cost_usd": float(row[4] or 0.0),
                }
                for row in result
            ]

        count = int(total[0] or 0)
        return {
            "totals": {
                "requests": count,
                "errors": int(total[1] or 0),
                "tokens": int(total[2] or 0),
                "cost_usd": float(total[3] or 0.0),
            },
            "free_share": (int(total[4] or 0) / count) if count else 0.0,
            "by_model": rows(by_model, "model"),
            "by_channel": rows(by_channel, "channel"),
            "by_endpoint": rows(by_endpoint, "endpoint"),
            "by_app": rows(by_app, "app"),
            "by_tier": [
                {
                    **rows([row], "tier")[0],
                    "free": int(row[5] or 0),
                    "strong": int(row[8] or 0),
                    "cheap": int(row[1]) - int(row[5] or 0) - int(row[8] or 0),
                    "strongest_cost_usd": float(row[6] or 0.0),
                    "saved_usd": max(float(row[6] or 0.0) - float(row[7] or 0.0), 0.0),
                }
                for row in sorted(by_tier, key=lambda row: TIER_ORDER.get(row[0], 9))
            ],
        }

    async def record(self, request_id: str) -> dict[str, Any] | None:
        async with self._engine().connect() as conn:
            row = (
                (await conn.execute(sa.select(requests).where(requests.c.request_id == request_id)))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def add_feedback(self, row: dict[str, Any]) -> None:
        async with self._engine().begin() as conn:
            await conn.execute(feedback.insert().values(**row))

    async def feedback_totals(self) -> list[tuple[str, str, float, float]]:
        """(kind, channel, good, bad) of every score heard: what the learned quality starts from."""
        f = feedback.c
        async with self._engine().connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        f.kind, f.deployment_id, sa.func.sum(f.score), sa.func.sum(1.0 - f.score)
                    ).group_by(f.kind, f.deployment_id)
                )
            ).all()
        return [(row[0], row[1], float(row[2] or 0.0), float(row[3] or 0.0)) for row in rows]

    async def spend_since(
        self, since: dt.datetime
    ) -> list[tuple[str | None, str | None, dt.datetime, float]]:
        """(key hash, session, time, cost) of recent records, to rebuild budgets after a restart."""
        r = requests.c
        async with self._engine().connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(r.api_key_hash, r.session, r.created_at, r.cost_usd).where(
                        r.created_at >= since
                    )
                )
            ).all()
        return [(row[0], row[1], aware(row[2]), float(row[3] or 0.0)) for row in rows]


RECORD_COLUMNS = tuple(column.name for column in requests.columns if column.name != "id")


def _is_outage(error: BaseException) -> bool:
    """Connection trouble (wait and retry) as opposed to a statement the database refuses."""
    if isinstance(error, (OSError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return "connect" in type(error).__name__.lower() or "connection" in str(error).lower()


def _insert(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _daily(batch: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    days: dict[tuple[str, str], dict[str, Any]] = {}
    for record in batch:
        if not record.get("deployment_id"):
            continue
        key = (record["created_at"].strftime("%Y-%m-%d"), record["deployment_id"])
        numbers = days.setdefault(key, {"requests": 0, "errors": 0, "tokens": 0, "cost_usd": 0.0})
        numbers["requests"] += 1
        numbers["errors"] += 0 if record.get("status") == "success" else 1
        numbers["tokens"] += int(record.get("prompt_tokens") or 0) + int(record.get("completion_tokens") or 0)
        numbers["cost_usd"] += float(record.get("cost_usd") or 0.0)
    return days
