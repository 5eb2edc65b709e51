"""Circuit breakers per channel (one deployment = one endpoint + key + model), and dead keys.

closed     requests flow; failures are counted
open       no requests until `reopen_at`; opened after N consecutive failures, or a failure
           rate over a window with a minimum number of calls, or at once when the upstream
           said when to come back (Retry-After, a daily reset)
half_open  after `reopen_at` one probe may go through (a user request or the background
           probe); success closes, failure re-opens with a longer cooldown
disabled   a permanent error (dead key, no credit): the key is out, on every channel that
           uses it, until an admin re-enables it or the key changes in config

Cooldowns grow exponentially with consecutive trips, capped. The clock is a parameter, so the
transitions are tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from health.classify import ErrorKind, Verdict

CLOSED, OPEN, HALF_OPEN, DISABLED = "closed", "open", "half_open", "disabled"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 3  # consecutive failures that open the breaker
    failure_rate: float = 0.5  # ... or this failure rate over the window
    min_calls: int = 10  # ... once the window holds this many calls
    window_s: float = 60.0
    base_cooldown_s: float = 5.0
    cooldown_multiplier: float = 2.0
    max_cooldown_s: float = 600.0
    model_unavailable_cooldown_s: float = 3600.0
    probe_timeout_s: float = 30.0  # a half-open probe not answered by then frees the slot


@dataclass
class Breaker:
    state: str = CLOSED
    consecutive_failures: int = 0
    trips: int = 0  # consecutive openings without a success in between
    reopen_at: float = 0.0
    probe_deadline: float = 0.0
    last_error_kind: str | None = None
    last_error_reason: str | None = None
    last_error_message: str | None = None
    last_error_at: float | None = None
    updated_at: float = 0.0
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)

    def to_record(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "trips": self.trips,
            "reopen_at": self.reopen_at,
            "last_error_kind": self.last_error_kind,
            "last_error_reason": self.last_error_reason,
            "last_error_message": self.last_error_message,
            "last_error_at": self.last_error_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Breaker:
        return cls(
            state=str(record.get("state") or CLOSED),
            consecutive_failures=int(record.get("consecutive_failures") or 0),
            trips=int(record.get("trips") or 0),
            reopen_at=float(record.get("reopen_at") or 0.0),
            last_error_kind=record.get("last_error_kind"),
            last_error_reason=record.get("last_error_reason"),
            last_error_message=record.get("last_error_message"),
            last_error_at=record.get("last_error_at"),
            updated_at=float(record.get("updated_at") or 0.0),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    channel_id: str
    before: str
    after: str


class BreakerBook:
    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self.breakers: dict[str, Breaker] = {}
        self.disabled_keys: dict[str, dict[str, Any]] = {}  # fingerprint -> {reason, message, at}
        self.version = 0  # bumped on every change; readers cache on it

    # -- queries (hot path: only channels with history are looked at) ---------------------
    def breaker(self, channel_id: str) -> Breaker:
        return self.breakers.setdefault(channel_id, Breaker())

    def unavailable(self, now: float) -> Iterator[tuple[str, str, float]]:
        """(channel id, why, until) of every channel that may not take a request now."""
        for channel_id, b in self.breakers.items():
            if b.state == DISABLED:
                yield channel_id, f"disabled: {b.last_error_reason or 'by admin'}", float("inf")
            elif b.state == OPEN and now < b.reopen_at:
                yield channel_id, f"breaker open ({b.last_error_reason})", b.reopen_at
            elif b.state == HALF_OPEN and now < b.probe_deadline:
                yield channel_id, "half-open: probe in flight", b.probe_deadline

    def key_disabled(self, fingerprint: str | None) -> bool:
        return fingerprint is not None and fingerprint in self.disabled_keys

    def allows(self, channel_id: str, fingerprint: str | None, now: float) -> bool:
        if self.key_disabled(fingerprint):
            return False
        b = self.breakers.get(channel_id)
        if b is None or b.state == CLOSED:
            return True
        if b.state == DISABLED:
            return False
        if b.state == OPEN:
            return now >= b.reopen_at
        return now >= b.probe_deadline

    # -- events ------------------------------------------------------------------------------
    def on_dispatch(self, channel_id: str, now: float) -> Transition | None:
        """A request is sent to this channel; a due open breaker becomes half-open (one probe)."""
        b = self.breakers.get(channel_id)
        if b is None or b.state not in (OPEN, HALF_OPEN) or now < max(b.reopen_at, b.probe_deadline):
            return None
        before = b.state
        b.state = HALF_OPEN
        b.probe_deadline = now + self.policy.probe_timeout_s
        return self._changed(channel_id, b, before, now)

    def release_probe(self, channel_id: str, now: float) -> bool:
        """The half-open probe a request took never went out (refused after routing): the next
        request may probe at once. True when a probe was released."""
        b = self.breakers.get(channel_id)
        if b is None or b.state != HALF_OPEN or b.probe_deadline <= now:
            return False
        b.probe_deadline = b.updated_at = now
        self.version += 1
        return True

    def record_success(self, channel_id: str, now: float) -> Transition | None:
        b = self.breaker(channel_id)
        self._remember(b, now, ok=True)
        before = b.state
        if before == DISABLED:
            return None  # an in-flight success does not undo an admin's or a dead key's disable
        if before == CLOSED and b.consecutive_failures == 0:
            return None
        b.state, b.consecutive_failures, b.trips, b.reopen_at, b.probe_deadline = CLOSED, 0, 0, 0.0, 0.0
        return self._changed(channel_id, b, before, now)

    def record_failure(
        self, channel_id: str, fingerprint: str | None, verdict: Verdict, now: float
    ) -> Transition | None:
        b = self.breaker(channel_id)
        b.last_error_kind, b.last_error_reason = verdict.kind.value, verdict.reason
        b.last_error_message, b.last_error_at = verdict.message[:300], now
        before = b.state
        if verdict.kind is ErrorKind.CALLER:
            b.updated_at = now
            self.version += 1
            return None  # the request was wrong, not the channel
        self._remember(b, now, ok=False)
        if verdict.kind is ErrorKind.PERMANENT:
            if fingerprint:
                self.disabled_keys[fingerprint] = {
                    "reason": verdict.reason,
                    "message": b.last_error_message,
                    "at": now,
                }
            b.state = DISABLED
            return self._changed(channel_id, b, before, now)
        if verdict.kind is ErrorKind.MODEL_UNAVAILABLE:
            return self._open(channel_id, b, now, self.policy.model_unavailable_cooldown_s, before)
        b.consecutive_failures += 1
        if before == DISABLED:
            return None
        if before == HALF_OPEN or verdict.retry_at is not None or self._should_trip(b, now):
            return self._open(channel_id, b, now, self._cooldown(b), before, verdict.retry_at)
        b.updated_at = now
        self.version += 1
        return None

    # -- admin ---------------------------------------------------------------------------------
    def disable(self, channel_id: str, now: float) -> None:
        b = self.breaker(channel_id)
        before = b.state
        b.state, b.last_error_reason = DISABLED, "by admin"
        self._changed(channel_id, b, before, now)

    def enable(self, channel_id: str, fingerprint: str | None, now: float) -> None:
        """Re-admit a channel, and its key everywhere it is used."""
        if fingerprint:
            self.disabled_keys.pop(fingerprint, None)
        self.reset(channel_id, now)

    def reset(self, channel_id: str, now: float) -> None:
        before = self.breaker(channel_id).state
        fresh = Breaker()
        self.breakers[channel_id] = fresh
        self._changed(channel_id, fresh, before, now)

    # -- internals -------------------------------------------------------------------------------
    def _should_trip(self, b: Breaker, now: float) -> bool:
        if b.consecutive_failures >= self.policy.failure_threshold:
            return True
        calls = len(b.outcomes)
        if calls < self.policy.min_calls:
            return False
        failures = sum(1 for _, ok in b.outcomes if not ok)
        return failures / calls >= self.policy.failure_rate

    def _cooldown(self, b: Breaker) -> float:
        p = self.policy
        return min(p.base_cooldown_s * p.cooldown_multiplier**b.trips, p.max_cooldown_s)

    def _open(
        self,
        channel_id: str,
        b: Breaker,
        now: float,
        cooldown: float,
        before: str,
        until: float | None = None,
    ) -> Transition:
        b.state = OPEN
        b.reopen_at = max(now + cooldown, until or 0.0)
        b.probe_deadline = 0.0
        b.trips += 1
        return self._changed(channel_id, b, before, now)

    def _remember(self, b: Breaker, now: float, ok: bool) -> None:
        b.outcomes.append((now, ok))
        horizon = now - self.policy.window_s
        while b.outcomes and b.outcomes[0][0] < horizon:
            b.outcomes.popleft()

    def _changed(self, channel_id: str, b: Breaker, before: str, now: float) -> Transition:
        b.updated_at = now
        self.version += 1
        return Transition(channel_id, before, b.state)
