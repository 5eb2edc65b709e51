"""Spend totals and budgets: global, per API key and per session, per day and per month (UTC).

Checked before a call with the estimate and settled after it with the actual cost. Between the
two, an admitted request's estimate is held against its budgets, so that requests admitted at
the same time do not each see only the spend settled so far (twenty concurrent requests of an
agent used to pass a budget with room for one).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

ADJECTIVE = {"day": "daily", "month": "monthly"}
PERIODS = ("day", "month")
HOLD_TTL_S = 900.0  # a hold whose request never ended (a lost callback) stops counting after this


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str  # "global" | "key" | "session"
    period: str  # "day" | "month"
    usd: float


@dataclass(frozen=True, slots=True)
class BudgetExceeded:
    limit: Limit
    subject: str  # the key / session ("*" for global)
    spent: float
    resets_at: dt.datetime
    label: str | None = None  # what to call the subject in the message (a client key's name)
    held: float = 0.0  # estimated for requests in flight

    @property
    def message(self) -> str:
        who = (
            "" if self.limit.scope == "global" else f" for {self.limit.scope} {self.label or self.subject!r}"
        )
        held = f" (+ ${self.held:.6f} estimated for requests in flight)" if self.held > 0 else ""
        return (
            f"{self.limit.scope} {ADJECTIVE[self.limit.period]} budget{who} exceeded: spent ${self.spent:.6f}"
            f"{held} of ${self.limit.usd:.6f}; resets at {self.resets_at.isoformat()}"
        )


def period_key(period: str, now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%d") if period == "day" else now.strftime("%Y-%m")


def period_end(period: str, now: dt.datetime) -> dt.datetime:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start + dt.timedelta(days=1)
    first = start.replace(day=1)
    return (first + dt.timedelta(days=32)).replace(day=1)


class SpendBook:
    def __init__(self, limits: list[Limit] | None = None) -> None:
        self.limits = limits or []
        # (scope, subject, period, period key) -> USD
        self.totals: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.sessions: dict[str, float] = defaultdict(float)  # lifetime total per session
        self.held: dict[tuple[str, str, str, str], float] = {}  # same keys as totals: estimates in flight
        self._holds: OrderedDict[str, tuple[float, float, list[tuple[str, str, str, str]]]] = OrderedDict()

    def subjects(self, key: str | None, session: str | None) -> dict[str, str]:
        return {"global": "*", "key": key or "-", "session": session or "-"}

    def spent(self, scope: str, subject: str, period: str, now: dt.datetime) -> float:
        return self.totals.get((scope, subject, period, period_key(period, now)), 0.0)

    def check(
        self,
        key: str | None,
        session: str | None,
        estimate: float,
        now: dt.datetime,
        key_limits: Sequence[Limit] = (),
        key_label: str | None = None,
        headroom: float = 1.0,
    ) -> BudgetExceeded | None:
        """The first budget this call would break; `key_limits` are the caller's own key's.
        `headroom` < 1 asks "would it come within that share of a budget?" instead."""
        subjects = self.subjects(key, session)
        for limit in (*self.limits, *key_limits):
            subject = subjects[limit.scope]
            spent = self.spent(limit.scope, subject, limit.period, now)
            held = self.held.get((limit.scope, subject, limit.period, period_key(limit.period, now)), 0.0)
            usd = limit.usd * headroom
            if spent + held + estimate > usd or (spent >= usd and usd >= 0):
                label = key_label if limit.scope == "key" else None
                return BudgetExceeded(limit, subject, spent, period_end(limit.period, now), label, held)
        return None

    def hold(
        self, request_id: str, key: str | None, session: str | None, usd: float, now: dt.datetime, at: float
    ) -> None:
        """Count an admitted request's estimate against its budgets until `release`. `at`: seconds
        on the caller's clock, for expiry."""
        self._expire(at)
        if usd <= 0 or request_id in self._holds:
            return
        keys = [
            (scope, subject, period, period_key(period, now))
            for scope, subject in self.subjects(key, session).items()
            for period in PERIODS
        ]
        for where in keys:
            self.held[where] = self.held.get(where, 0.0) + usd
        self._holds[request_id] = (at, usd, keys)

    def release(self, request_id: str) -> None:
        entry = self._holds.pop(request_id, None)
        if entry is None:
            return
        _, usd, keys = entry
        for where in keys:
            left = self.held.get(where, 0.0) - usd
            if left > 1e-12:
                self.held[where] = left
            else:
                self.held.pop(where, None)

    def _expire(self, at: float) -> None:
        while self._holds:
            request_id, (since, _, _) = next(iter(self._holds.items()))
            if at - since < HOLD_TTL_S:
                return
            self.release(request_id)

    def settle(self, key: str | None, session: str | None, cost: float, now: dt.datetime) -> None:
        for scope, subject in self.subjects(key, session).items():
            for period in PERIODS:
                self.totals[(scope, subject, period, period_key(period, now))] += cost
        if session:
            self.sessions[session] += cost

    def usage_ratio(self, now: dt.datetime) -> tuple[float, Limit | None]:
        """The highest share of a global budget spent (for on_budget rules)."""
        best, which = 0.0, None
        for limit in self.limits:
            if limit.scope != "global" or limit.usd <= 0:
                continue
            ratio = self.spent("global", "*", limit.period, now) / limit.usd
            if ratio > best:
                best, which = ratio, limit
        return best, which
