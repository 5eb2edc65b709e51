"""Cost, sessions, budgets and records for the proxy (the glue between LiteLLM and `accounting`).

A session is the `x-session-id` header, else the request's `user`, else the API key. A
non-streaming response is settled when its headers are built (so `x-router-session-cost-usd`
includes it); a stream when LiteLLM reports its end. Either way a request is settled once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import hashlib
import importlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from accounting.budgets import ADJECTIVE, BudgetExceeded, Limit, SpendBook, period_key
from accounting.cost import Usage, request_cost
from catalog.channel import Channel
from router_ext.exit_signals import intercept_exit_signals
from router_ext.settings import RouterSettings
from router_ext.state.routing_state import RoutingState
from router_ext.state.shared_spend import SharedSpend, session_key, total_key
from router_ext.store.journal import Journal

if TYPE_CHECKING:
    from router_ext.store.record_store import RecordStore

from router_ext.clock import utc_now
from router_ext.litellm_seam.request_data import request_header

log = logging.getLogger("smart_router")
MAX_SETTLED = 20_000
EARLY_RECORDS = 50_000  # records made before the store exists (until the first answer, + ~1 s)


def session_of(data: Mapping[str, Any], key_hash: str | None) -> str | None:
    session = request_header(data, "x-session-id")
    if session:
        return session[:300]
    if data.get("user"):
        return str(data["user"])[:300]
    return f"key:{key_hash[:16]}" if key_hash else None


def key_hash_of(user_api_key_dict: Any) -> str | None:
    token = getattr(user_api_key_dict, "api_key", None) or getattr(user_api_key_dict, "token", None)
    return subject_of_token(str(token)) if token else None


def subject_of_token(token: str) -> str:
    """The budget subject of a key. LiteLLM hands us its own sha256 of the key (a client key's
    stored hash for ours); hash again so a raw key never reaches the store."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class SpendTracker:
    def __init__(
        self,
        settings: RouterSettings,
        state: RoutingState,
        store_url: str | None,
        shared: SharedSpend | None = None,
    ) -> None:
        self.book = SpendBook(settings.budgets.limits())
        self.on_budget = settings.on_budget
        self.state = state
        self.store_url = store_url  # None: records are off
        self.store: RecordStore | None = None  # made by start(), off the event loop
        self._early: deque[dict[str, Any]] = deque(maxlen=EARLY_RECORDS)
        self._exits: list[asyncio.Task[None]] = []
        self.restored = asyncio.Event()  # this month's spend read back from the store (or no store)
        if store_url is None:
            self.restored.set()
        self.shared = shared
        self.settled: OrderedDict[str, float] = OrderedDict()
        self._mirror: dict[str, tuple[str, ...]] = {}  # Redis key -> where it lives in the book
        self.journal: Journal | None = (
            Journal(settings.journal_dir) if store_url is not None and settings.journal_dir else None
        )

    # -- shared through Redis ----------------------------------------------------------------------
    def _redis_keys(self, key: str | None, session: str | None, at: dt.datetime) -> list[str]:
        names = []
        for scope, subject in self.book.subjects(key, session).items():
            for period in ("day", "month"):
                book_key = (scope, subject, period, period_key(period, at))
                name = total_key(*book_key)
                self._mirror[name] = book_key
                names.append(name)
        if session:
            name = session_key(session)
            self._mirror[name] = ("lifetime", session)
            names.append(name)
        if len(self._mirror) > 50_000:  # old periods and sessions: forget, they are re-read on sight
            self._mirror = {n: self._mirror[n] for n in names}
            if self.shared is not None:
                self.shared.known = set(names)
        return names

    def apply_shared(self, totals: Mapping[str, float]) -> None:
        """Totals over all replicas; max with ours, so a Redis that lost data never lowers one."""
        for name, total in totals.items():
            where = self._mirror.get(name)
            if where is None:
                continue
            if where[0] == "lifetime":  # a session's total, all days
                self.book.sessions[where[1]] = max(self.book.sessions.get(where[1], 0.0), total)
            else:
                book_key = (where[0], where[1], where[2], where[3])
                self.book.totals[book_key] = max(self.book.totals.get(book_key, 0.0), total)

    async def check(
        self,
        key: str | None,
        session: str | None,
        estimate: float,
        key_limits: Sequence[Limit] = (),
        key_label: str | None = None,
    ) -> BudgetExceeded | None:
        """The budget this call would break, checked in memory. With Redis, the mirror is read
        from Redis first for a subject seen here for the first time, and near a limit (80%):
        the mirror may lag by a sync interval, a budget must not. Right after a start, a budget
        check waits (briefly) for this month's spend to be read back from the store."""
        if (self.book.limits or key_limits) and not self.restored.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.restored.wait(), timeout=10.0)
        now = utc_now()
        if self.shared is not None:
            names = self._redis_keys(key, session, now)
            near = self.book.check(key, session, estimate, now, key_limits, key_label, headroom=0.8)
            wanted = names if near is not None else [n for n in names if n not in self.shared.known]
            if wanted:
                self.apply_shared(await self.shared.read(wanted))
        return self.book.check(key, session, estimate, now, key_limits, key_label)

    def hold(self, request_id: str, key: str | None, session: str | None, estimate: float) -> None:
        """An admitted request's estimate, counted by budget checks until it settles or ends (in
        this process: replicas and workers share settled spend, not what is in flight)."""
        self.book.hold(request_id, key, session, estimate, utc_now(), time.monotonic())

    def release(self, request_id: str) -> None:
        self.book.release(request_id)

    async def share(self, key: str | None, session: str | None, cost: float, budgeted: bool) -> None:
        """Into the totals every replica sees. `budgeted`: a budget counts this spend (global,
        per key or session, or the client key's): it must not lag, so the answer waits for Redis;
        otherwise it is flushed in the background."""
        if self.shared is None:
            return
        self.shared.queue(dict.fromkeys(self._redis_keys(key, session, utc_now()), cost))
        if budgeted:
            self.apply_shared(await self.shared.flush())
        else:
            self.shared.flush_soon()

    async def start(self) -> None:
        try:
            await self._start()
        finally:  # also when the database is unreachable: budgets then count from zero, as before
            self.restored.set()

    async def _start(self) -> None:
        if self.store_url is None:
            return
        # SQLAlchemy (~1 s of imports, 16 MB) is loaded in a thread once the proxy runs: the
        # first requests are not held up by it, and nothing on the request path needs it.
        self._guard_exit()
        module = await asyncio.to_thread(importlib.import_module, "router_ext.store.record_store")
        store = module.RecordStore(self.store_url)
        while self._early:
            store.add(self._early.popleft())
        self.store = store
        await store.start()
        await self._replay_journals(store)
        now = utc_now()
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        restored = 0
        for key, session, at, cost in await store.spend_since(month_start):
            self._settle_totals(key, session, cost, at)
            restored += 1
        if restored:
            log.info("smart-router: budgets restored from %d record(s) of this month", restored)

    async def _replay_journals(self, store: RecordStore) -> None:
        """Records a killed process journaled but never stored: into the store before budgets
        are read back (inserted by request id, so none counts twice)."""
        if self.journal is None:
            return
        records, done = await asyncio.to_thread(self.journal.replay)
        if records:
            for record in records:
                store.add(record)
            if not await store.flush(attempts=3):
                return  # the database is away: the journals stay for the next start
            log.warning(
                "smart-router: %d record(s) replayed from the journals of stopped processes", len(records)
            )
        for path in done:
            path.unlink(missing_ok=True)
        store.on_drained = self.journal.written_up_to_now

    def _guard_exit(self) -> None:
        """Records made before the store runs are written at exit too: on SIGTERM / SIGINT (uvicorn
        re-raises them after its shutdown, which skips atexit) and at a normal exit."""
        atexit.register(self.write_pending_now)
        loop = asyncio.get_running_loop()

        def on_exit(proceed: Callable[[], None]) -> None:
            if self.store is not None and self.store.running:
                proceed()  # a running store flushes on its own
                return
            # The shutdown begins once what waits is written: on the loop, after the callbacks
            # already queued (the last answers' records).
            loop.call_soon_threadsafe(lambda: self._exits.append(loop.create_task(self._write_then(proceed))))

        intercept_exit_signals(on_exit)

    async def _write_then(self, proceed: Callable[[], None]) -> None:
        try:
            if self.store is None:
                self.write_pending_now()  # blocks the loop for the write: fine at shutdown
            else:  # starting: one writer per database, so let it finish, then flush
                await self._flush_once_started()
        finally:
            proceed()

    async def _flush_once_started(self, wait_s: float = 5.0) -> None:
        deadline = time.monotonic() + wait_s
        while self.store is not None and not self.store.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.store is not None and self.store.running:
            await self.store.flush(attempts=3)

    def write_pending_now(self) -> None:
        """Blocking write of the records made before the store existed (a running store
        flushes on its own)."""
        if self.store_url is None or self.store is not None or not self._early:
            return
        module = importlib.import_module("router_ext.store.record_store")  # waits for the import in progress
        store = module.RecordStore(self.store_url)
        while self._early:
            store.add(self._early.popleft())
        store.flush_at_exit(migrate_first=True)

    async def close(self) -> None:
        """At shutdown: write what is buffered, then close the database and Redis clients."""
        for task in self._exits:
            with contextlib.suppress(Exception):
                await task
        if self.store is not None and self.store.running:
            await self.store.close()
        if self.shared is not None:
            with contextlib.suppress(Exception):  # what this replica settled last reaches the others
                await self.shared.flush()
            await self.shared.close()

    # -- after the call ----------------------------------------------------------------------------
    def settle(
        self,
        request_id: str,
        channel: Channel | None,
        usage: Usage,
        litellm_cost: float | None,
        key: str | None,
        session: str | None,
    ) -> tuple[float, bool]:
        """(cost, newly settled). A request settled before returns its first cost."""
        if request_id in self.settled:
            return self.settled[request_id], False
        cost = request_cost(channel, usage, litellm_cost)
        self.settled[request_id] = cost
        while len(self.settled) > MAX_SETTLED:
            self.settled.popitem(last=False)
        self._settle_totals(key, session, cost, utc_now())
        self.book.release(request_id)  # its actual cost counts now
        self._apply_on_budget()
        return cost, True

    def session_total(self, session: str | None) -> float:
        return self.book.sessions.get(session, 0.0) if session else 0.0

    def record(self, record: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal.append(record)
        if self.store is not None:
            self.store.add(record)
        elif self.store_url is not None:
            self._early.append(record)

    def _settle_totals(self, key: str | None, session: str | None, cost: float, at: dt.datetime) -> None:
        self.book.settle(key, session, cost, at)

    def _apply_on_budget(self) -> None:
        rule = self.on_budget
        if rule is None:
            return
        ratio, limit = self.book.usage_ratio(utc_now())
        if limit is None or ratio * 100 < rule.at_percent or self.state.active == rule.strategy.lower():
            return
        self.state.set_active(
            rule.strategy, reason=f"on_budget: {ratio * 100:.0f}% of the {ADJECTIVE[limit.period]} budget"
        )
        log.warning(
            "smart-router: %.0f%% of the global %s budget spent: strategy switched to %s",
            ratio * 100,
            ADJECTIVE[limit.period],
            rule.strategy,
        )
