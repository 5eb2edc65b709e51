"""Sticky sessions: a conversation stays on the channel that served it, so the provider's prompt
cache (Anthropic, OpenAI, DeepSeek: cached input at a fraction of the price) keeps hitting.

A session is explicit: the `x-session-id` header, else the request's `user`, else Claude Code's
`metadata.user_id` (it names its session there), else a Responses `prompt_cache_key`. It stays
while its channel is among the candidates (healthy, allowed, within its rate-limit windows) and
costs at most the strategy's margin more than the best candidate; a failure on that channel
releases it (the next answer picks the new one). Memory only, bounded (LRU), one dict lookup
per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from router_ext.litellm_seam.request_data import request_header
from router_ext.settings import StickySettings

C = TypeVar("C")


def sticky_session_of(data: Mapping[str, Any]) -> str | None:
    session = request_header(data, "x-session-id")
    if session:
        return f"s:{session[:300]}"
    if data.get("user"):
        return f"u:{str(data['user'])[:300]}"
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        return f"a:{metadata['user_id'][:500]}"
    if isinstance(data.get("prompt_cache_key"), str) and data["prompt_cache_key"]:
        return f"c:{data['prompt_cache_key'][:300]}"
    return None


class StickySessions:
    def __init__(self, settings: StickySettings) -> None:
        self.settings = settings
        self._channels: OrderedDict[str, tuple[str, float]] = OrderedDict()  # session -> (channel, seen)
        self.prompt_tokens: dict[str, int] = {}  # session -> its last prompt: what the channel has cached

    def margin(self, strategy: str) -> float:
        base = strategy.split("@", 1)[0]  # a budget-degraded strategy keeps its margin
        return self.settings.strategy_margins.get(base, self.settings.cost_margin)

    def prefer(
        self,
        ranked: Sequence[C],
        session: str | None,
        strategy: str,
        id_of: Callable[[C], str],
        cost_of: Callable[[C, int], float | None],
        now: float,
    ) -> tuple[list[C], bool]:
        """The ranking with the session's channel first when it may stay; (ranking, stayed).
        `cost_of(channel, cached_tokens)`: the request's estimated cost there, with that much of
        the prompt read from the provider's cache (the session's last prompt, on its channel)."""
        ranked = list(ranked)
        if not self.settings.enabled or session is None or len(ranked) < 2:
            return ranked, False
        held = self._channels.get(session)
        if held is None or now - held[1] > self.settings.ttl_s:
            return ranked, False
        at = next((i for i, c in enumerate(ranked) if id_of(c) == held[0]), None)
        if at is None:
            return ranked, False  # excluded now (unhealthy, not allowed, window spent)
        if at == 0:
            return ranked, True
        best, mine = cost_of(ranked[0], 0), cost_of(ranked[at], self.prompt_tokens.get(session, 0))
        if best is not None and mine is not None and mine > best * (1 + self.margin(strategy)) + 1e-12:
            return ranked, False  # too dear to stay
        return [ranked[at], *ranked[:at], *ranked[at + 1 :]], True

    def served(self, session: str | None, channel_id: str, now: float, prompt_tokens: int = 0) -> None:
        if session is None or not self.settings.enabled:
            return
        self._channels[session] = (channel_id, now)
        self._channels.move_to_end(session)
        self.prompt_tokens[session] = prompt_tokens  # the channel that served it now has it cached
        while len(self._channels) > self.settings.max_sessions:
            dropped, _ = self._channels.popitem(last=False)
            self.prompt_tokens.pop(dropped, None)

    def release(self, session: str | None, channel_id: str) -> None:
        held = self._channels.get(session) if session else None
        if held is not None and held[0] == channel_id and session is not None:
            del self._channels[session]
            self.prompt_tokens.pop(session, None)

    def channel_of(self, session: str) -> str | None:
        held = self._channels.get(session)
        return held[0] if held else None
