"""Feedback on answers: a score for a past request moves its channel's quality for that request's
kind (strategies/learned_quality.py).

A score arrives by `POST /routing/feedback` (admin) or on a client's next request as
`x-router-feedback: <request id>=<score>` (that client's own requests only). The request is
found among the recent ones in memory, else in the store. Each score is written to the store
(the learned quality is rebuilt from it after a restart) and, with Redis, added to a shared
hash that every replica reads back with the breakers.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from router_ext.clock import utc_now
from strategies.learned_quality import LearnedQuality

log = logging.getLogger("smart_router")
RECENT = 10_000  # requests remembered for feedback without a store lookup


class FeedbackError(ValueError):
    """The score cannot be taken: `status` and a message naming what to fix."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class FeedbackStore(Protocol):
    async def record(self, request_id: str) -> dict[str, Any] | None: ...

    async def add_feedback(self, row: dict[str, Any]) -> None: ...

    async def feedback_totals(self) -> list[tuple[str, str, float, float]]: ...


@dataclass(frozen=True, slots=True)
class Served:
    kind: str
    channel_id: str
    key_hash: str | None


class QualityFeedback:
    def __init__(
        self,
        learned: LearnedQuality,
        store: Callable[[], FeedbackStore | None],
        prior_of: Callable[[str], float],
    ) -> None:
        """`prior_of`: a channel's quality before any feedback (config, table or size)."""
        self.learned = learned
        self._store = store
        self._prior_of = prior_of
        self.recent: OrderedDict[str, Served] = OrderedDict()
        self._pending: dict[str, float] = {}  # "kind|channel|good" -> amount not yet in Redis

    def served(self, request_id: str, kind: str | None, channel_id: str, key_hash: str | None) -> None:
        if not kind:
            return
        self.recent[request_id] = Served(kind, channel_id, key_hash)
        if len(self.recent) > RECENT:
            self.recent.popitem(last=False)

    async def give(
        self, request_id: str, score: Any, source: str, caller_key_hash: str | None = None
    ) -> dict[str, Any]:
        """`caller_key_hash`: set for a client's header, whose own requests alone it may score."""
        value = parse_score(score)
        served = self.recent.get(request_id) or await self._from_store(request_id)
        if served is None:
            raise FeedbackError(
                404,
                "request_not_found",
                f"no served request {request_id!r} with a prompt kind is known: give the "
                "x-router-request-id of a chat, Responses or Messages answer",
            )
        if caller_key_hash is not None and served.key_hash != caller_key_hash:
            # The same answer as for an unknown id: a key learns nothing of other keys' requests.
            raise FeedbackError(404, "request_not_found", f"no served request {request_id!r} of this API key")
        prior = self._prior_of(served.channel_id)
        self.learned.add(served.kind, served.channel_id, value)
        self._pending[f"{served.kind}|{served.channel_id}|good"] = (
            self._pending.get(f"{served.kind}|{served.channel_id}|good", 0.0) + value
        )
        self._pending[f"{served.kind}|{served.channel_id}|bad"] = (
            self._pending.get(f"{served.kind}|{served.channel_id}|bad", 0.0) + 1.0 - value
        )
        store = self._store()
        if store is not None:
            try:
                await store.add_feedback(
                    {
                        "request_id": request_id,
                        "created_at": utc_now(),
                        "kind": served.kind,
                        "deployment_id": served.channel_id,
                        "score": value,
                        "source": source,
                    }
                )
            except Exception:  # the score still counts in memory and Redis; the store catches up never
                log.exception("smart-router: a feedback score could not be written to the store")
        posterior = self.learned.posterior(served.kind, served.channel_id, prior)
        return {
            "request_id": request_id,
            "kind": served.kind,
            "channel": served.channel_id,
            "score": value,
            "quality": posterior.as_dict(),
        }

    async def _from_store(self, request_id: str) -> Served | None:
        store = self._store()
        if store is None:
            return None
        try:
            row = await store.record(request_id)
        except Exception:  # noqa: BLE001  # no store answer is "not known", not a 500
            log.warning("smart-router: the store could not be read for feedback on %s", request_id)
            return None
        if not row or not row.get("kind") or not row.get("deployment_id") or row.get("status") != "success":
            return None
        return Served(str(row["kind"]), str(row["deployment_id"]), row.get("api_key_hash"))

    def take_pending(self) -> dict[str, float]:
        pending, self._pending = self._pending, {}
        return pending

    def give_back(self, pending: Mapping[str, float]) -> None:
        for name, amount in pending.items():
            self._pending[name] = self._pending.get(name, 0.0) + amount

    def merged(self, totals: Mapping[str, float]) -> None:
        """Every replica's scores as Redis adds them up, plus ours not pushed yet."""
        pairs: dict[tuple[str, str], list[float]] = {}
        for source in (totals, self._pending):
            for name, amount in source.items():
                kind, channel_id, side = name.rsplit("|", 2)
                pair = pairs.setdefault((kind, channel_id), [0.0, 0.0])
                pair[0 if side == "good" else 1] += float(amount)
        self.learned.replace((kind, channel, good, bad) for (kind, channel), (good, bad) in pairs.items())


def parse_score(score: Any) -> float:
    """0..1, or a boolean (thumbs up / down)."""
    if isinstance(score, bool):
        return 1.0 if score else 0.0
    if isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            score = None
    if not isinstance(score, (int, float)) or not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise FeedbackError(
            400,
            "invalid_score",
            f"score must be a number from 0 (bad) to 1 (good) or a boolean, not {score!r}",
        )
    return float(score)


def parse_feedback_header(value: str) -> list[tuple[str, str]]:
    """`<request id>=<score>[, <request id>=<score>]`."""
    pairs = []
    for part in value.split(","):
        request_id, sep, score = part.strip().partition("=")
        if not sep or not request_id.strip():
            raise FeedbackError(
                400,
                "invalid_feedback",
                "x-router-feedback must be '<request id>=<score>' (score 0..1), comma-separated",
            )
        pairs.append((request_id.strip(), score.strip()))
    return pairs
