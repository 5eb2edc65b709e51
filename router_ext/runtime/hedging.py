"""Hedged streams: a slow first token races the next candidate, and the first token wins.

Built on LiteLLM's own race, not a transport of ours. For a chat-completions stream the Router
returns only once it has read the stream's first chunk (so that a stream failing before its
first token fails over inside the Router), and its `fastest_response` call
(`model: "a,b"`, `Router.abatch_completion_fastest_response`) runs one call per deployment and
returns the first that returns, cancelling the others. So the pre-call hook hands the Router
`"<first>,<hedge>"` with `fastest_response`, and the hedge's attempt is held in our
pre-call deployment hook for the first candidate's expected time to first token
(`strategies/hedging.py`): a first token within that time wins and cancels the held hedge
before it sends anything; a late one races it. A first candidate that fails lets the hedge go
at once, so failover does not wait; the rest of the ranking is the hedge's fallback list.

One request still ends in one record: LiteLLM reports the call it cancelled as a success too
(no tokens, at the moment it was cut); that callback is recognised (the response headers name the
winner) and only the winner settles and records. The record carries the hedge (started when,
onto which channel, who won) and the loser's input cost where it bills one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from catalog.channel import Channel
from router_ext.runtime.stream_race import Buffered, OpenHedge, close, race_first_items
from strategies.hedging import FirstTokenTimes, HedgePolicy, hedge_delay_ms, hedge_target, samples_key

MAX_KEPT = 5_000  # races not concluded yet (their record is not written)
HEDGED_ENDPOINTS = ("chat", "messages", "responses")
DECISION_WAIT_S = 5.0  # a callback waits this long for the race's headers (a client gone: never)


@dataclass(slots=True)
class HedgeRace:
    primary: str
    hedge: str
    delay_ms: float
    started_at: float = field(default_factory=time.perf_counter)
    after_ms: float | None = None  # when the hedge went out; None: the first token came in time
    primary_failed: asyncio.Event = field(default_factory=asyncio.Event)
    winner: str | None = None  # known when the response headers go out
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    by_router: bool = True  # LiteLLM's race (chat); else ours in the headers hook (stream_race.py)
    stream: bool = True  # else a whole answer, raced by its latency
    served: str | None = None  # Messages / Responses: who won our race

    def as_json(self, winner: str, loser_cost_usd: float) -> str:
        return json.dumps(
            {
                "primary": self.primary,
                "hedge": self.hedge,
                "delay_ms": round(self.delay_ms, 1),
                "after_ms": None if self.after_ms is None else round(self.after_ms, 1),
                "winner": winner,
                "loser_cost_usd": loser_cost_usd,
            },
            separators=(",", ":"),
        )


class ChannelLookup(Protocol):
    """What hedging asks of the catalogue: a channel's price and locality."""

    def channel(self, channel_id: str) -> Channel | None: ...


class StreamHedging:
    def __init__(self, policy: HedgePolicy, catalogue: ChannelLookup) -> None:
        self.policy = policy
        self.catalogue = catalogue
        self.first_tokens = FirstTokenTimes()
        self._races: OrderedDict[str, HedgeRace] = OrderedDict()
        self._buffered: OrderedDict[str, Buffered] = OrderedDict()  # raced streams until sent
        self.hedges_sent = 0
        self.hedges_won = 0  # ... of which answered first

    def observe(self, channel_id: str, ttft_ms: float | None, stream: bool = True) -> None:
        """A stream's time to first token, or a whole answer's latency."""
        if ttft_ms is not None:
            self.first_tokens.observe(samples_key(channel_id, stream), ttft_ms)

    def plan(self, routed: dict[str, Any], ranked: list[str]) -> str | None:
        """The hedge of a request about to be routed to `ranked[0]`, or None."""
        stream = bool(routed.get("stream"))
        endpoint = routed.get("endpoint")
        if not ranked or endpoint not in HEDGED_ENDPOINTS:
            return None
        if not stream and not (self.policy.non_streams and endpoint == "chat"):  # LiteLLM races chat only
            return None
        if not self.policy.applies_to(routed.get("strategy")):
            return None
        target = hedge_target(ranked, ranked[0], self._costs_nothing, self.policy.onto_paid)
        if target is None:
            return None
        race = HedgeRace(
            ranked[0],
            target,
            hedge_delay_ms(self.policy, self.first_tokens, ranked[0], stream),
            by_router=endpoint == "chat",
            stream=stream,
        )
        self._races[str(routed["request_id"])] = race
        while len(self._races) > MAX_KEPT:
            self._races.popitem(last=False)
        routed["hedge"] = target
        return target

    def _costs_nothing(self, channel_id: str) -> bool:
        """Free, or local with no price saying otherwise."""
        channel = self.catalogue.channel(channel_id)
        if channel is None:
            return False
        priced = bool(channel.input_cost_per_token or channel.output_cost_per_token)
        return channel.is_free or (channel.local and not priced)

    async def hold(self, request_id: str, deployment_id: str) -> None:
        """Before an attempt: the hedge waits for the first candidate's expected first token
        (cancelled by LiteLLM if that comes first), or for the first candidate to fail."""
        race = self._races.get(request_id)
        if race is None or not race.by_router or deployment_id != race.hedge or race.after_ms is not None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(race.primary_failed.wait(), race.delay_ms / 1000.0)
        race.after_ms = (time.perf_counter() - race.started_at) * 1000.0
        self.hedges_sent += 1

    def failed(self, request_id: str | None, deployment_id: str) -> None:
        race = self._races.get(request_id) if request_id else None
        if race is not None and deployment_id == race.primary:
            race.primary_failed.set()

    async def race_call(self, request_id: str | None, open_primary: OpenHedge, open_hedge: OpenHedge) -> Any:
        """Messages and Responses streams, around the Router's call: the stream that serves
        (its first items kept for `served_stream`)."""
        race = self._races.get(request_id) if request_id else None
        if race is None or race.by_router or race.after_ms is not None:
            return await open_primary()
        started = time.perf_counter()

        async def open_now() -> Any:
            race.after_ms = (time.perf_counter() - race.started_at) * 1000.0
            self.hedges_sent += 1
            return await open_hedge()

        result = await race_first_items(open_primary, race.delay_ms / 1000.0, open_now)
        race.served = race.hedge if result.hedge_won else race.primary
        if result.hedge_won:
            self.observe(race.primary, (time.perf_counter() - started) * 1000.0)  # at least this late
        if result.served.failed and not isinstance(result.served.first, StopAsyncIteration):
            raise result.served.first  # both calls failed: the primary's error, as without a race
        self._buffered[str(request_id)] = result.served
        while len(self._buffered) > MAX_KEPT:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(close(self._buffered.popitem(last=False)[1].stream))
        return result.served.stream

    def served_by(self, request_id: str | None) -> str | None:
        """Who won a Messages or Responses race (None: no race ran)."""
        race = self._races.get(request_id) if request_id else None
        return race.served if race is not None else None

    def served_stream(self, request_id: str | None, response: Any) -> Any:
        """What a raced stream's client is sent: the buffered first item, then the rest."""
        served = self._buffered.pop(request_id, None) if request_id else None
        return response if served is None else served.replay()

    def won(self, request_id: str | None, deployment_id: str) -> None:
        race = self._races.get(request_id) if request_id else None
        if race is not None and race.winner is None:
            race.winner = deployment_id
            race.decided.set()

    async def lost(self, request_id: str | None, deployment_id: str) -> bool:
        """Whether a success callback is the race's loser: LiteLLM reports the call it
        cancelled as a success too (no tokens, at the moment it was cut), possibly before the
        winner's headers say who won."""
        race = self._races.get(request_id) if request_id else None
        if race is None or deployment_id not in (race.primary, race.hedge):
            return False
        if race.winner is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(race.decided.wait(), DECISION_WAIT_S)
        return race.winner is not None and deployment_id != race.winner

    def conclude(
        self, request_id: str, winner: str, prompt_tokens: int
    ) -> tuple[str, HedgeRace, float] | None:
        """(the record's hedge JSON, the race, the loser's cost) once the request is answered."""
        race = self._races.pop(request_id, None)
        if race is None:
            return None
        loser_cost = 0.0
        if race.after_ms is not None:
            loser = race.hedge if winner == race.primary else race.primary
            loser_cost = _partial_cost(self.catalogue.channel(loser), prompt_tokens)
            if winner == race.hedge:
                self.hedges_won += 1
                self.observe(race.primary, race.after_ms, race.stream)  # it was at least this late
        return race.as_json(winner, loser_cost), race, loser_cost

    def forget(self, request_id: str | None) -> None:
        if request_id:
            self._races.pop(request_id, None)

    def stats(self) -> Mapping[str, int]:
        return {"sent": self.hedges_sent, "won": self.hedges_won, "racing": len(self._races)}


def _partial_cost(channel: Channel | None, prompt_tokens: int) -> float:
    """A priced upstream cut before its first token has taken in the prompt: billed by most."""
    if channel is None or not channel.input_cost_per_token or not prompt_tokens:
        return 0.0
    return channel.input_cost_per_token * prompt_tokens
