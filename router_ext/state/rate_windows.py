"""Rate-limit windows on the request path: every request sent counts (before its answer), every
answer's and 429's headers teach, and routing reads the result as a hard filter (`headroom`:
spent until its reset) and as the `headroom` signal (the share left). Memory only, O(1) per
event; the pure bookkeeping is accounting/rate_limits.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from accounting.rate_limits import LimitBook, headers_in_body
from catalog.index import TagIndex
from router_ext.catalogue.catalogue import Catalogue
from strategies.filters import HardFilter


def exception_headers(exception: BaseException) -> dict[str, Any]:
    """The upstream's headers a LiteLLM exception carries, and OpenRouter's inside its body."""
    found: dict[str, Any] = {}
    for source in (
        getattr(exception, "litellm_response_headers", None),
        getattr(getattr(exception, "response", None), "headers", None),
    ):
        if source is not None:
            try:
                found.update({str(k): v for k, v in dict(source).items()})
            except (TypeError, ValueError):
                continue
    body = getattr(exception, "body", None)
    if isinstance(body, Mapping):
        found.update(headers_in_body(body) or headers_in_body({"error": body}))
    return found


class RateWindows:
    def __init__(self, book: LimitBook, catalogue: Catalogue) -> None:
        self.book = book
        self.catalogue = catalogue

    def sent(self, channel_id: str, tokens: int, request_id: str | None) -> None:
        now = time.time()
        self.book.sent(channel_id, now, tokens, request_id)
        self._refresh(channel_id, now)

    def finish(self, request_id: str) -> None:
        """The request has ended: nothing of it is in flight any longer."""
        held = self.book.finish(request_id)
        if held:
            now = time.time()
            for channel_id in held:
                self._refresh(channel_id, now)

    def withdraw(self, channel_id: str, request_id: str) -> None:
        now = time.time()
        self.book.withdraw(channel_id, request_id, now)
        self._refresh(channel_id, now)

    def observe(self, channel_id: str, headers: Mapping[str, Any] | None, request_id: str | None) -> None:
        now = time.time()
        if self.book.observe(channel_id, headers, now, request_id):
            self._refresh(channel_id, now)

    def observe_failure(self, channel_id: str, exception: BaseException, request_id: str | None) -> None:
        self.observe(channel_id, exception_headers(exception), request_id)

    def exclusion(self, index: TagIndex) -> HardFilter | None:
        now = time.time()
        for channel_id in self.book.due(now):  # windows that reset: their headroom is back
            self._refresh(channel_id, now)
        spent = self.book.spent(now)
        if not spent:
            return None
        rejects = np.zeros(index.size, dtype=np.bool_)
        reasons, until = {}, {}
        for channel_id, (why, back) in spent.items():
            position = index.position_by_id.get(channel_id)
            if position is not None:
                rejects[position] = True
                reasons[position], until[position] = why, back
        if not rejects.any():
            return None
        return HardFilter("headroom", rejects, "rate-limit window spent", reasons, until)

    def merged(self, channel_id: str, windows: Mapping[str, Any]) -> None:
        """Another replica's windows (through Redis): adopted by the same rule as an answer."""
        now = time.time()
        if self.book.merge(channel_id, windows, now):
            self._refresh(channel_id, now)

    def merged_caps(self, totals: Mapping[str, float]) -> None:
        """What every replica sent against the configured caps (through Redis)."""
        now = time.time()
        self.book.merge_cap_totals(totals, now)
        for channel_id in {name.rsplit("|", 3)[0] for name in totals}:
            self._refresh(channel_id, now)

    def describe(self, channel_id: str) -> list[dict[str, Any]]:
        return self.book.describe(channel_id, time.time())

    def _refresh(self, channel_id: str, now: float) -> None:
        self.catalogue.observations.set_headroom(channel_id, self.book.headroom(channel_id, now))
