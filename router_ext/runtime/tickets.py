"""Why a request for a virtual name went where it went, kept small: the record's ticket, and the
same decision in the shape LiteLLM's own logs view renders (`metadata.routing_decision`).

The request path leaves in `routed` what it knew cheaply: the ranked candidates and their totals,
the ranges cost and speed were normalised over, how many channels each filter dropped, the tier,
kind and floor. The per-signal values of the few candidates shown are computed here, at the
request's end (the decision computed totals only), with the observations as they are then: the
ticket says so (`"signals_as_of": "answer"`). A request for a concrete model name has no ticket:
its channel says it all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from router_ext.catalogue.catalogue import Catalogue
from router_ext.state.channel_health import Attempts
from strategies.base import RequestFacts, Strategy
from strategies.decision import Decision
from strategies.difficulty import Difficulty
from strategies.signals import compute_signals

TICKET_VERSION = 1
TICKET_CANDIDATES = 5  # the top of the ranking shown (the attempts name any channel tried below it)
TICKET_ATTEMPTS = 8  # a longer failover keeps its first and last attempts: the ticket stays ~1.5 kB
ROUTER_TYPE = "smart-router"  # `router_type` in LiteLLM's routing_decision (its UI prints it as is)


def decision_facts(decision: Decision, requested: Any) -> dict[str, Any]:
    """What the request path keeps of a decision for the ticket: plain values, a few keys."""
    facts: dict[str, Any] = {}
    if decision.excluded_counts:
        facts["excluded"] = dict(decision.excluded_counts)
    ranges = decision.ranking.ranges
    if ranges:  # NaN (no price known) as None: the ticket travels in LiteLLM's metadata
        facts["ranges"] = {k: [None if math.isnan(v) else v for v in pair] for k, pair in ranges.items()}
    if decision.spec.name != requested:
        facts["routed_as"] = decision.spec.name
    return facts


def strategy_weights(routed: Mapping[str, Any], strategies: Mapping[str, Strategy]) -> dict[str, float]:
    """The non-zero weights the request was ranked with (a strategy degraded near a budget
    carries its own in `routed["weights"]`)."""
    degraded = routed.get("weights")
    if isinstance(degraded, str) and degraded:
        weights = {}
        for part in degraded.split(","):
            name, _, value = part.partition("=")
            try:
                weights[name] = float(value)
            except ValueError:
                continue
        return {k: v for k, v in weights.items() if v}
    strategy = strategies.get(str(routed.get("strategy") or ""))
    return {k: float(w) for k, w in (strategy.weights.items() if strategy is not None else ()) if w}


def attempt_list(
    attempts: Attempts, served: str | None = None, served_ms: float | None = None
) -> list[dict[str, Any]]:
    """Each attempt in order: channel, duration (ms) and error class (None: it answered)."""
    tried: list[dict[str, Any]] = []
    for channel, verdict in attempts.failures:
        began, ended = attempts.began.get(channel), attempts.ended.get(channel)
        entry: dict[str, Any] = {
            "channel": channel,
            "ms": round((ended - began) * 1000.0, 1) if began and ended and ended >= began else None,
            "error": verdict.kind.value,
        }
        if verdict.status:
            entry["status"] = verdict.status
        tried.append(entry)
    if served:
        tried.append(
            {"channel": served, "ms": round(served_ms, 1) if served_ms is not None else None, "error": None}
        )
    return tried


def build_ticket(
    routed: Mapping[str, Any],
    tried: list[dict[str, Any]],
    catalogue: Catalogue,
    strategies: Mapping[str, Strategy],
) -> dict[str, Any] | None:
    """The ticket of a request routed from a virtual name (None for a concrete name)."""
    candidates = [str(c) for c in routed.get("candidates") or []]
    if not candidates or not routed.get("strategy"):
        return None
    weights = strategy_weights(routed, strategies)
    scores = list(routed.get("scores") or [])
    shown = candidates[:TICKET_CANDIDATES]
    values = _signal_values(routed, shown, list(weights), catalogue)
    ranked: list[dict[str, Any]] = []
    for rank, channel in enumerate(shown):
        entry: dict[str, Any] = {"id": channel}
        if rank < len(scores):
            entry["total"] = _finite(scores[rank], 4)
        if channel in values:
            entry["v"] = values[channel]
        ranked.append(entry)
    ticket: dict[str, Any] = {"v": TICKET_VERSION, "model": routed.get("requested_model")}
    for key in ("routed_as", "rule"):
        if routed.get(key):
            ticket[key] = routed[key]
    ticket["strategy"] = routed["strategy"]
    ticket["weights"] = weights  # each candidate's `v` lists its signal values in this order
    ticket["signals_as_of"] = "answer"  # computed at the request's end, not by the decision
    ticket["eligible"] = routed.get("eligible")
    ticket["candidates"] = ranked
    if len(candidates) > len(shown):
        ticket["more"] = len(candidates) - len(shown)
    if routed.get("excluded"):
        ticket["excluded"] = dict(routed["excluded"])
    for key in ("tier", "kind", "floor", "stepped_down_from"):
        if routed.get(key) is not None:
            ticket[key] = routed[key]
    if routed.get("sticky"):
        ticket["sticky"] = True
    if len(tried) > TICKET_ATTEMPTS:  # the first failures and the last attempts tell the story
        head, tail = TICKET_ATTEMPTS // 2, TICKET_ATTEMPTS - TICKET_ATTEMPTS // 2
        ticket["attempts_left_out"] = len(tried) - TICKET_ATTEMPTS
        tried = [*tried[:head], *tried[-tail:]]
    ticket["attempts"] = tried
    if routed.get("openrouter"):
        ticket["openrouter"] = routed["openrouter"]
    return ticket


def ticket_json(ticket: Mapping[str, Any] | None) -> str | None:
    return json.dumps(ticket, separators=(",", ":"), allow_nan=False) if ticket is not None else None


def _signal_values(
    routed: Mapping[str, Any], shown: list[str], names: list[str], catalogue: Catalogue
) -> dict[str, list[float | None]]:
    """Each shown candidate's signal values (in `names` order), normalised over the range the
    decision saw among all its candidates."""
    if not names:
        return {}
    index = catalogue.index()
    found = [(c, index.position_by_id[c]) for c in shown if c in index.position_by_id]
    if not found:
        return {}
    kind = routed.get("kind")
    facts = RequestFacts(
        prompt_tokens=int(routed.get("prompt_tokens") or 0),
        max_output_tokens=int(routed.get("max_output_tokens") or 0),
        difficulty=Difficulty(str(routed.get("tier") or ""), str(kind), 0.0, ()) if kind else None,
    )
    ranges = {
        name: (math.nan if low is None else float(low), math.nan if high is None else float(high))
        for name, (low, high) in (routed.get("ranges") or {}).items()
    }
    positions = np.asarray([p for _, p in found], dtype=np.intp)
    signals = compute_signals(index, catalogue.observations, positions, facts, names, ranges=ranges)
    return {
        channel: [_finite(signals[name][at], 3) for name in names] for at, (channel, _) in enumerate(found)
    }


def _finite(value: Any, digits: int) -> float | None:
    """Rounded; None for NaN or infinity (the ticket is strict JSON)."""
    number = float(value)
    return round(number, digits) if math.isfinite(number) else None


def litellm_routing_decision(
    routed: Mapping[str, Any], served: str, attempts: Attempts, score: float | None
) -> dict[str, Any] | None:
    """Our decision in the shape of LiteLLM's `StandardLoggingRoutingDecision`
    (litellm/types/utils.py), which its logs view renders when `cause` is set: the name asked
    for, who served it, the tier and kind, the served channel's score and the reasons as
    `signals` (short strings, shown as badges). `router_type` and `cause` are ours: LiteLLM's
    names its own routers, and its UI prints a value it does not know as it is."""
    candidates = [str(c) for c in routed.get("candidates") or []]
    if not candidates or not routed.get("strategy"):
        return None
    scores = list(routed.get("scores") or [])
    signals: list[str] = []
    if routed.get("rule"):
        signals.append(f"rule {routed['rule']}")
    if routed.get("routed_as"):
        signals.append(f"routed as {routed['routed_as']}")
    for rank, channel in enumerate(candidates[:3]):
        total = f" {float(scores[rank]):.3f}" if rank < len(scores) else ""
        signals.append(f"#{rank + 1} {channel}{total}")
    for name, count in (routed.get("excluded") or {}).items():
        signals.append(f"excluded by {name}: {count}")
    for channel, verdict in attempts.failures:
        signals.append(f"failed {channel}: {verdict.kind.value}")
    if routed.get("floor") is not None:
        signals.append(f"quality floor {float(routed['floor']):g}")
    if routed.get("stepped_down_from"):
        signals.append(f"stepped down from {routed['stepped_down_from']}")
    if routed.get("hedge"):
        signals.append(f"hedged with {routed['hedge']}")
    if routed.get("sticky"):
        signals.append("sticky session")
    decision: dict[str, Any] = {
        "router_model_name": str(routed.get("requested_model") or ""),
        "router_type": ROUTER_TYPE,
        "routed_model": served,
        "cause": f"strategy {routed['strategy']}",
    }
    if routed.get("tier"):
        decision["tier"] = str(routed["tier"])
    if routed.get("kind"):
        decision["request_type"] = str(routed["kind"])
    if score is not None:
        decision["score"] = round(float(score), 4)
    decision["signals"] = list(dict.fromkeys(signals))  # unique: the UI keys its badges by text
    return decision
