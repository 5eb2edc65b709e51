"""The record of one request, as the store, the request log and the metrics see it.

Built in one place (`RequestRecord.of`) for every way a request ends: it was served
(`success`), every channel tried failed (`failed`), or it was refused before any upstream call
(`rejected`).

The routing ticket (`routed`, a plain dict travelling in LiteLLM's request metadata under
`smart_router`) is what the pre-call hook knew: request_id, requested_model, session, key,
prompt_tokens, started_at, and for a virtual name strategy / candidates / scores / channel, and
what the record's ticket explains the decision with (router_ext/runtime/tickets.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.channel import Channel
from router_ext.clock import utc_now

SUCCESS, FAILED, REJECTED = "success", "failed", "rejected"
METADATA_KEY = "smart_router"  # the routing ticket's key in a request's metadata


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    created_at: dt.datetime
    requested_model: str
    status: str  # success | failed | rejected
    attempts: int
    endpoint: str = "chat"  # chat | responses | messages | embeddings | completions
    rule: str | None = None  # the scenario rule that routed it
    deployment_id: str | None = None  # the channel that answered, or was tried last
    channel: str | None = None
    upstream_model: str | None = None
    strategy: str = "direct"
    session: str | None = None
    api_key_hash: str | None = None
    error_class: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    hedge: str | None = None  # JSON: {primary, hedge, after_ms, winner, loser_cost_usd} when one ran
    tier: str | None = None  # the prompt's difficulty tier
    kind: str | None = None  # the prompt's kind
    baseline_cost_usd: float | None = None  # the strongest priced channel's cost for the same usage
    quality: float | None = None  # the serving channel's quality (prior) when it served
    # JSON: why a virtual name went where it went (router_ext/runtime/tickets.py); None for a
    # concrete model name
    ticket: str | None = None
    app: str | None = None  # the client app (X-OpenRouter-Title / X-Title, else HTTP-Referer)

    @classmethod
    def of(
        cls,
        routed: Mapping[str, Any],
        status: str,
        attempts: int,
        deployment_id: str | None = None,
        channel: Channel | None = None,
        **outcome: Any,
    ) -> RequestRecord:
        """`outcome`: error_class, latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd."""
        latency = outcome.pop("latency_ms", 0.0)
        ttft = outcome.pop("ttft_ms", None)
        return cls(
            request_id=str(routed.get("request_id")),
            created_at=utc_now(),
            requested_model=str(routed.get("requested_model") or "")[:300],
            status=status,
            attempts=attempts,
            endpoint=str(routed.get("endpoint") or "chat"),
            rule=routed.get("rule"),
            tier=routed.get("tier"),
            app=routed.get("app"),
            kind=routed.get("kind"),
            deployment_id=deployment_id,
            channel=channel.channel if channel else None,
            upstream_model=channel.upstream_model if channel else None,
            strategy=str(routed.get("strategy") or "direct"),
            session=routed.get("session"),
            api_key_hash=routed.get("key"),
            latency_ms=round(float(latency), 3),
            ttft_ms=round(float(ttft), 3) if ttft is not None else None,
            **outcome,
        )

    def as_row(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
