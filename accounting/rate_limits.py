"""Rate-limit windows per channel: learned from the headers upstreams send on every answer, and
configured caps counted here. A channel whose window is spent is skipped until the window's
reset, then it is back without a failed request; one nearly spent ranks lower (`headroom`).

Header formats (real samples in ../shared/fixtures):
- OpenAI, Groq: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, reset as a duration
  (`6s`, `1.559999999s`, `6m0s`, `20ms`).
- Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
  reset as an RFC 3339 time.
- OpenRouter: `X-RateLimit-{Limit,Remaining,Reset}` (requests; reset in epoch ms), also inside a
  429's `error.metadata.headers`.

Concurrency: an upstream's counter only goes down within a window, so the lowest `remaining`
announced in the current window was true at some moment, and every request that has not been
answered yet may have reached the upstream since. What is left now is at least that lowest
count less the requests in flight: the book routes by that bound. It never sends past the
limit, however answers overtake each other, and once the answers are in it is the exact count
again (no request is lost to a guess). Before a channel's first answer nothing is known.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from health.retry_hints import parse_duration, parse_reset

KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
SAME_WINDOW_S = 1.0  # resets this close together name the same window
IN_FLIGHT_S = 120.0  # a request unanswered this long no longer counts as in flight
MAX_TRACKED_REQUESTS = 10_000  # requests whose channels are remembered for `finish`


@dataclass(frozen=True, slots=True)
class Window:
    kind: str  # requests | tokens | input-tokens | output-tokens
    limit: int | None
    remaining: float
    reset_at: float  # epoch seconds
    source: str  # "headers" or "config"

    def spent(self, now: float) -> bool:
        return self.remaining <= 0 and self.reset_at > now

    def fraction(self, now: float) -> float:
        if self.reset_at <= now or not self.limit:
            return 1.0
        return max(0.0, min(1.0, self.remaining / self.limit))


@dataclass(frozen=True, slots=True)
class Cap:
    """A configured limit: `limit` requests (or tokens) per `period_s` (86400 = per UTC day)."""

    kind: str
    limit: int
    period_s: float


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _rfc3339(value: Any) -> float | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def parse_limit_headers(headers: Mapping[str, Any], now: float) -> dict[str, Window]:
    """Every window the headers announce, by kind. Header names in any case, with or without
    LiteLLM's `llm_provider-` prefix."""
    lowered: dict[str, Any] = {}
    for name, value in headers.items():
        key = str(name).lower()
        lowered[key.removeprefix("llm_provider-")] = value
    found: dict[str, Window] = {}
    for kind in ("requests", "tokens"):  # OpenAI / Groq
        remaining = _number(lowered.get(f"x-ratelimit-remaining-{kind}"))
        if remaining is None:
            continue
        duration = parse_duration(str(lowered.get(f"x-ratelimit-reset-{kind}", "")))
        limit = _number(lowered.get(f"x-ratelimit-limit-{kind}"))
        found[kind] = Window(
            kind, int(limit) if limit else None, remaining, now + (duration or 60.0), "headers"
        )
    for kind in KINDS:  # Anthropic
        remaining = _number(lowered.get(f"anthropic-ratelimit-{kind}-remaining"))
        if remaining is None:
            continue
        reset = _rfc3339(lowered.get(f"anthropic-ratelimit-{kind}-reset")) or now + 60.0
        limit = _number(lowered.get(f"anthropic-ratelimit-{kind}-limit"))
        found[kind] = Window(kind, int(limit) if limit else None, remaining, reset, "headers")
    remaining = _number(lowered.get("x-ratelimit-remaining"))  # OpenRouter
    if remaining is not None and "requests" not in found:
        reset = parse_reset(lowered.get("x-ratelimit-reset", "60"), now) or now + 60.0
        limit = _number(lowered.get("x-ratelimit-limit"))
        found["requests"] = Window("requests", int(limit) if limit else None, remaining, reset, "headers")
    return found


def headers_in_body(body: Any) -> Mapping[str, Any]:
    """OpenRouter puts the upstream's rate-limit headers in a 429's `error.metadata.headers`."""
    error = body.get("error") if isinstance(body, Mapping) else None
    metadata = error.get("metadata") if isinstance(error, Mapping) else None
    headers = metadata.get("headers") if isinstance(metadata, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def _window_start(now: float, period_s: float) -> float:
    """Configured windows are aligned to the clock (a day: the UTC day, OpenRouter's daily cap),
    so every replica counts into the same window."""
    if period_s >= 86_400:
        today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        return dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC).timestamp()
    return (now // period_s) * period_s


def _period_length(period_s: float) -> float:
    return 86_400.0 if period_s >= 86_400 else period_s


def cap_field(channel_id: str, kind: str, period_s: float, start: float) -> str:
    """One configured window of one channel, as replicas name it to each other."""
    return f"{channel_id}|{kind}|{period_s:g}|{start:.0f}"


@dataclass
class _CapUse:
    """Use of one configured window: here, and by the other replicas (as last shared)."""

    start: float
    local: float = 0.0
    pushed: float = 0.0  # of `local`, what the shared total already holds
    others: float = 0.0


@dataclass
class _Channel:
    learned: dict[str, Window] = field(default_factory=dict)  # remaining: the lowest announced
    counted: dict[tuple[str, float], _CapUse] = field(default_factory=dict)  # (kind, period) -> use
    in_flight: dict[str, tuple[int, float]] = field(default_factory=dict)  # request -> (tokens, sent at)

    def answered(self, request_id: str | None, now: float) -> None:
        if request_id:
            self.in_flight.pop(request_id, None)
        if self.in_flight and next(iter(self.in_flight.values()))[1] < now - IN_FLIGHT_S:
            # answers that never came (a dropped stream): no longer in flight
            self.in_flight = {r: v for r, v in self.in_flight.items() if v[1] >= now - IN_FLIGHT_S}

    def pending(self, kind: str) -> float:
        if kind == "requests":
            return float(len(self.in_flight))
        return float(sum(tokens for tokens, _ in self.in_flight.values()))


class LimitBook:
    def __init__(self) -> None:
        self.caps: dict[str, list[Cap]] = {}
        self._channels: dict[str, _Channel] = {}
        self.dirty: set[str] = set()  # channels whose learned windows changed (to share)
        self.cap_dirty: set[str] = set()  # channels that sent against a configured cap (to share)
        # Channels that may have a window spent: only these are looked at per request (a
        # router with a thousand channels in use must not walk them all on every decision).
        self._tight: set[str] = set()
        self._resets: list[tuple[float, str]] = []  # (when, channel id): headroom comes back
        # request -> channels it was counted on and not yet answered by (see `finish`)
        self._requests: dict[str, set[str]] = {}

    def set_caps(self, caps: Mapping[str, Iterable[Cap]]) -> None:
        self.caps = {cid: list(c) for cid, c in caps.items() if c}

    def _channel(self, channel_id: str) -> _Channel:
        found = self._channels.get(channel_id)
        if found is None:
            found = self._channels[channel_id] = _Channel()
        return found

    # -- events ----------------------------------------------------------------------------------
    def observe(
        self, channel_id: str, headers: Mapping[str, Any] | None, now: float, request_id: str | None = None
    ) -> bool:
        """The answer (or failure) to `request_id` came back with these headers; True when they
        announced a window."""
        announced = parse_limit_headers(headers or {}, now)
        state = self._channels.get(channel_id)
        if state is not None:
            state.answered(request_id, now)
            self._untrack(request_id, channel_id)
        if not announced:
            return False
        state = state or self._channel(channel_id)
        for kind, window in announced.items():
            known = state.learned.get(kind)
            same = known is not None and known.reset_at > now
            if same and known is not None and known.remaining < window.remaining:
                window = (
                    known  # a live window is never given back (answers may be late by seconds under load)
                )
            state.learned[kind] = window
            heapq.heappush(self._resets, (window.reset_at, channel_id))
        self.dirty.add(channel_id)
        self._mark(channel_id, now)
        return True

    # -- sharing between replicas ----------------------------------------------------------------
    def export(self, channel_ids: Iterable[str], now: float) -> dict[str, dict[str, Any]]:
        """The learned windows of these channels as plain data (what a replica shares)."""
        out: dict[str, dict[str, Any]] = {}
        for channel_id in channel_ids:
            state = self._channels.get(channel_id)
            if state is None:
                continue
            out[channel_id] = {
                kind: {"limit": w.limit, "remaining": w.remaining, "reset_at": w.reset_at}
                for kind, w in state.learned.items()
                if w.reset_at > now
            }
        return out

    def merge(self, channel_id: str, windows: Mapping[str, Any], now: float) -> bool:
        """Another replica's learned windows: the same rule as an answer (the lowest count of
        a window wins; a later window replaces an earlier one). True when anything changed."""
        changed = False
        for kind, data in windows.items():
            try:
                window = Window(
                    kind, data.get("limit"), float(data["remaining"]), float(data["reset_at"]), "headers"
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if window.reset_at <= now:
                continue
            state = self._channel(channel_id)
            known = state.learned.get(kind)
            same = known is not None and known.reset_at > now
            if known is not None and (
                (same and known.remaining <= window.remaining)
                or known.reset_at > window.reset_at + SAME_WINDOW_S
            ):
                continue
            state.learned[kind] = window
            heapq.heappush(self._resets, (window.reset_at, channel_id))
            changed = True
        if changed:
            self._mark(channel_id, now)
        return changed

    def sent(self, channel_id: str, now: float, tokens: int = 0, request_id: str | None = None) -> None:
        """A request is going to this channel: in flight until its answer, counted against the
        configured caps now."""
        caps = self.caps.get(channel_id)
        state = self._channel(channel_id)
        if request_id is not None and request_id in state.in_flight:
            return  # counted when it was routed here (`sent` again by the call itself)
        state.in_flight[request_id or f"anonymous-{len(state.in_flight)}-{now}"] = (tokens, now)
        if request_id is not None:
            self._requests.setdefault(request_id, set()).add(channel_id)
            while len(self._requests) > MAX_TRACKED_REQUESTS:
                del self._requests[next(iter(self._requests))]
        for cap in caps or ():
            use = self._cap_use(state, channel_id, cap, now)
            use.local += 1 if cap.kind == "requests" else tokens
            self.cap_dirty.add(channel_id)
        self._mark(channel_id, now)

    def _untrack(self, request_id: str | None, channel_id: str) -> None:
        if not request_id or (channels := self._requests.get(request_id)) is None:
            return
        channels.discard(channel_id)
        if not channels:
            del self._requests[request_id]

    def finish(self, request_id: str) -> list[str]:
        """The request has ended: no channel it went to holds it in flight any longer (a
        hedge's loser, an attempt whose failure reached no hook). Its counts stand: each may
        have reached its upstream. The channels that held it."""
        held = []
        for channel_id in self._requests.pop(request_id, ()):
            state = self._channels.get(channel_id)
            if state is not None and state.in_flight.pop(request_id, None) is not None:
                held.append(channel_id)
        return held

    def withdraw(self, channel_id: str, request_id: str, now: float) -> None:
        """A request counted as sent here never went out (refused after routing): no longer in
        flight, and given back to the configured caps unless already shared with the others."""
        state = self._channels.get(channel_id)
        entry = state.in_flight.pop(request_id, None) if state is not None else None
        self._untrack(request_id, channel_id)
        if state is None or entry is None:
            return
        tokens, _ = entry
        for cap in self.caps.get(channel_id, ()):
            use = state.counted.get((cap.kind, cap.period_s))
            if use is not None and use.start == _window_start(now, cap.period_s):
                amount = 1 if cap.kind == "requests" else tokens
                use.local = max(use.pushed, use.local - amount)

    def _cap_use(self, state: _Channel, channel_id: str, cap: Cap, now: float) -> _CapUse:
        start = _window_start(now, cap.period_s)
        use = state.counted.get((cap.kind, cap.period_s))
        if use is None or use.start != start:
            use = state.counted[(cap.kind, cap.period_s)] = _CapUse(start)
            heapq.heappush(self._resets, (start + _period_length(cap.period_s), channel_id))
        return use

    # -- configured caps across replicas: each adds what it sent to a shared total ----------------
    def take_cap_use(self, now: float) -> dict[str, float]:
        """What this replica sent since it last shared, per configured window (cap_field)."""
        out: dict[str, float] = {}
        for channel_id in self.cap_dirty:
            state = self._channels.get(channel_id)
            for (kind, period), use in (state.counted if state else {}).items():
                if use.local > use.pushed and use.start + _period_length(period) > now:
                    out[cap_field(channel_id, kind, period, use.start)] = use.local - use.pushed
                    use.pushed = use.local
        self.cap_dirty = set()
        return out

    def give_back_cap_use(self, taken: Mapping[str, float]) -> None:
        """A share that did not reach the others: sent again next time."""
        for name, amount in taken.items():
            channel_id, kind, period, start = name.rsplit("|", 3)
            state = self._channels.get(channel_id)
            use = state.counted.get((kind, float(period))) if state else None
            if use is not None and f"{use.start:.0f}" == start:
                use.pushed -= amount
                self.cap_dirty.add(channel_id)

    def merge_cap_totals(self, totals: Mapping[str, float], now: float) -> None:
        """The shared totals of configured windows: the others' part is the total less ours."""
        for name, total in totals.items():
            try:
                channel_id, kind, period_text, start = name.rsplit("|", 3)
                period = float(period_text)
            except ValueError:
                continue
            cap = next(
                (c for c in self.caps.get(channel_id, ()) if (c.kind, c.period_s) == (kind, period)), None
            )
            if cap is None or float(start) != _window_start(now, period):
                continue
            use = self._cap_use(self._channel(channel_id), channel_id, cap, now)
            use.others = max(0.0, float(total) - use.pushed)
            self._mark(channel_id, now)

    def cap_periods(self) -> set[float]:
        return {cap.period_s for caps in self.caps.values() for cap in caps}

    def cap_window_starts(self, now: float) -> dict[float, float]:
        """Period -> the start of its current window (which shared totals to read)."""
        return {period: _window_start(now, period) for period in self.cap_periods()}

    def _mark(self, channel_id: str, now: float) -> None:
        """A window of the channel is at its last request or spent: watch it per request."""
        if any(w.remaining <= 1 for w in self.windows(channel_id, now)):
            self._tight.add(channel_id)

    # -- what routing reads ----------------------------------------------------------------------
    def windows(self, channel_id: str, now: float) -> list[Window]:
        """The live windows, learned ones as the bound routing uses (less what is in flight)."""
        state = self._channels.get(channel_id)
        if state is None:
            return []
        learned = [
            replace(w, remaining=w.remaining - state.pending(w.kind))
            for w in state.learned.values()
            if w.reset_at > now
        ]
        counted = []
        for (kind, period), use in state.counted.items():
            reset_at = use.start + _period_length(period)
            cap = next(
                (c for c in self.caps.get(channel_id, ()) if (c.kind, c.period_s) == (kind, period)), None
            )
            if cap is not None and reset_at > now:
                counted.append(
                    Window(kind, cap.limit, cap.limit - use.local - use.others, reset_at, "config")
                )
        return [*learned, *counted]

    def spent(self, now: float) -> dict[str, tuple[str, float]]:
        """Channel id -> (why, when it is back), for every channel with a window spent."""
        out: dict[str, tuple[str, float]] = {}
        for channel_id in list(self._tight):
            live = self.windows(channel_id, now)
            if not any(w.spent(now) for w in live):
                if not any(w.remaining <= 1 for w in live):
                    self._tight.discard(channel_id)
                continue
            for window in live:
                if window.spent(now):
                    label = "per day" if window.reset_at - now > 3_600 else "window"
                    why = (
                        f"{window.kind} {label} spent ({window.limit or '?'} "
                        f"{'announced by the upstream' if window.source == 'headers' else 'configured'})"
                    )
                    back = max(window.reset_at, out.get(channel_id, ("", 0.0))[1])
                    out[channel_id] = (why, back)
        return out

    def headroom(self, channel_id: str, now: float) -> float:
        """0..1: the smallest share left of any known window (1 when none is known)."""
        return min((w.fraction(now) for w in self.windows(channel_id, now)), default=1.0)

    def due(self, now: float) -> list[str]:
        """Channels whose window reset has passed since the last call (their headroom is back)."""
        back = []
        while self._resets and self._resets[0][0] <= now:
            back.append(heapq.heappop(self._resets)[1])
        return back

    def describe(self, channel_id: str, now: float) -> list[dict[str, Any]]:
        live = self.windows(channel_id, now)
        shown = [
            {
                "kind": w.kind,
                "limit": w.limit,
                "remaining": max(0, int(w.remaining)),
                "reset_at": dt.datetime.fromtimestamp(w.reset_at, tz=dt.UTC).isoformat(),
                "source": w.source,
            }
            for w in live
        ]
        counted = {(w.kind, w.limit) for w in live if w.source == "config"}
        for cap in self.caps.get(channel_id, ()):  # configured, nothing sent in this window yet
            if (cap.kind, cap.limit) not in counted:
                per = "day" if cap.period_s >= 86_400 else f"{cap.period_s:g} s"
                shown.append(
                    {
                        "kind": cap.kind,
                        "limit": cap.limit,
                        "remaining": cap.limit,
                        "reset_at": None,
                        "source": f"config (per {per})",
                    }
                )
        return shown
