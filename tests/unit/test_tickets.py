"""The routing ticket of a record and the decision LiteLLM's logs view renders, through the adapter
on the fake Router (tests/unit/fake_router.py): why a virtual name went where it went, kept small."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from router_ext.hook import SmartRouterHook
from router_ext.runtime.runtime import RouterRuntime
from router_ext.runtime.tickets import TICKET_CANDIDATES
from router_ext.settings import parse_settings
from strategies.base import RequestFacts
from strategies.signals import compute_signals
from tests.unit.fake_router import FakeRouter, Reply, deployment, failure

PAID = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
FREE = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}


class Stack:
    def __init__(self, settings: dict[str, Any] | None = None, extra: int = 0) -> None:
        listing = [
            deployment("free-a", "openai/qwen3-8b:free", **FREE),
            deployment("cheap-b", "openai/qwen3-32b", input_cost_per_token=1e-7, output_cost_per_token=1e-7),
            deployment("dear-c", "openai/qwen3-235b", quality=0.9, **PAID),
            *[
                deployment(f"more-{i}", f"openai/qwen3-14b-{i}", input_cost_per_token=3e-7 + i * 1e-8)
                for i in range(extra)
            ],
        ]
        self.router = FakeRouter(listing)
        for entry in listing:
            self.router.answers(entry["model_info"]["id"], Reply())
        self.runtime = RouterRuntime(
            parse_settings({"records": False, "strategy": "cost_first", **(settings or {})}),
            router=lambda: self.router,
        )
        self.hook = SmartRouterHook(self.runtime)
        self.rows: list[dict[str, Any]] = []
        self.logged: list[dict[str, Any]] = []
        recorded = self.runtime.spend.record
        self.runtime.spend.record = lambda row: (self.rows.append(row), recorded(row))[-1]  # type: ignore[method-assign]
        logging_hook = self.hook.async_logging_hook

        async def logging_hook_spy(kwargs: dict, result: Any, call_type: str) -> tuple[dict, Any]:
            answer = await logging_hook(kwargs, result, call_type)
            self.logged.append(kwargs)
            return answer

        self.hook.async_logging_hook = logging_hook_spy  # type: ignore[method-assign]

    async def call(self, model: str = "tag:qwen3", **extra: Any) -> Any:
        data = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
        return await self.router.call(self.hook, data)

    def ticket(self) -> dict[str, Any]:
        raw = self.rows[-1]["ticket"]
        assert isinstance(raw, str)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed


async def test_a_failover_ticket_names_the_ranking_its_signals_and_each_attempt() -> None:
    s = Stack()
    s.router.answers("free-a", failure(500, "free-a is down"))
    outcome = await s.call()
    assert outcome.served_by == "cheap-b"
    raw = s.rows[-1]["ticket"]
    ticket = s.ticket()
    assert len(raw) < 1500, len(raw)
    assert ticket["model"] == "tag:qwen3" and ticket["strategy"] == "cost_first"
    assert ticket["signals_as_of"] == "answer"
    weights = ticket["weights"]
    assert weights == {
        "cost": 0.6,
        "free": 0.1,
        "speed": 0.1,
        "quality": 0.1,
        "reliability": 0.1,
        "headroom": 0.05,
    }
    assert [c["id"] for c in ticket["candidates"]] == ["free-a", "cheap-b", "dear-c"]
    assert ticket["eligible"] == 3
    for candidate in ticket["candidates"]:
        assert len(candidate["v"]) == len(weights)
        assert all(0.0 <= v <= 1.0 for v in candidate["v"])
    # The cheapest is cost 1, the dearest 0: normalised over the decision's candidates.
    cost = list(weights).index("cost")
    by_id = {c["id"]: c for c in ticket["candidates"]}
    assert by_id["free-a"]["v"][cost] == 1.0 and by_id["dear-c"]["v"][cost] == 0.0
    # free-a's reliability dropped after its failure: values are as of the answer
    reliability = list(weights).index("reliability")
    assert by_id["free-a"]["v"][reliability] < by_id["dear-c"]["v"][reliability]
    assert [(a["channel"], a["error"]) for a in ticket["attempts"]] == [
        ("free-a", "temporary"),
        ("cheap-b", None),
    ]
    assert ticket["attempts"][0]["status"] == 500
    assert all(isinstance(a["ms"], float) and a["ms"] >= 0 for a in ticket["attempts"])
    await s.runtime.shutdown()


async def test_the_signal_values_add_up_to_the_total_the_decision_ranked_by() -> None:
    s = Stack({"strategy": "balanced", "max_candidates": 8}, extra=6)
    await s.call(max_tokens=50)
    ticket = s.ticket()
    weights = list(ticket["weights"].values())
    for candidate in ticket["candidates"]:
        assert sum(w * v for w, v in zip(weights, candidate["v"], strict=True)) == pytest.approx(
            candidate["total"], abs=0.003
        )
    # a few are shown; the rest kept for failover only counted
    assert len(ticket["candidates"]) == TICKET_CANDIDATES
    assert ticket["more"] == 8 - TICKET_CANDIDATES
    await s.runtime.shutdown()


async def test_exclusions_are_counted_per_filter() -> None:
    s = Stack()
    s.runtime.health.disable("dear-c", time.time())
    await s.call(tools=[{"type": "function", "function": {"name": "f"}}])
    ticket = s.ticket()
    assert ticket["excluded"]["health"] == 1
    assert "dear-c" not in [c["id"] for c in ticket["candidates"]]
    assert ticket["eligible"] == 2
    await s.runtime.shutdown()


async def test_a_concrete_model_name_has_no_ticket() -> None:
    s = Stack()
    outcome = await s.call("free-a")
    assert outcome.served_by == "free-a"
    assert s.rows[-1]["ticket"] is None
    assert "routing_decision" not in s.logged[-1]["standard_logging_object"]["metadata"]
    await s.runtime.shutdown()


async def test_a_request_where_every_channel_failed_keeps_its_ticket() -> None:
    s = Stack()
    for found in ("free-a", "cheap-b", "dear-c"):
        s.router.answers(found, failure(500, f"{found} is down"))
    outcome = await s.call()
    assert outcome.status == 503
    assert s.rows[-1]["status"] == "failed"
    ticket = s.ticket()
    assert [(a["channel"], a["error"]) for a in ticket["attempts"]] == [
        ("free-a", "temporary"),
        ("cheap-b", "temporary"),
        ("dear-c", "temporary"),
    ]
    await s.runtime.shutdown()


async def test_the_tier_kind_and_floor_are_in_the_ticket() -> None:
    s = Stack({"strategy": "balanced"})
    await s.call("auto:smart")
    ticket = s.ticket()
    assert ticket["tier"] == "simple" and ticket["kind"]
    assert "floor" in ticket
    await s.runtime.shutdown()


async def test_litellm_gets_the_decision_in_its_routing_decision_shape() -> None:
    s = Stack()
    s.router.answers("free-a", failure(500, "free-a is down"))
    await s.call()
    metadata = s.logged[-1]["standard_logging_object"]["metadata"]
    decision = metadata["routing_decision"]
    assert decision["router_model_name"] == "tag:qwen3"
    assert decision["router_type"] == "smart-router"
    assert decision["routed_model"] == "cheap-b"
    assert decision["cause"] == "strategy cost_first"  # LiteLLM's UI renders a decision with a cause
    assert isinstance(decision["score"], float)
    assert decision["signals"][0].startswith("#1 free-a ")
    assert "failed free-a: temporary" in decision["signals"]
    assert all(isinstance(signal, str) for signal in decision["signals"])
    # its spend logs are written from the call's params: the same decision there
    assert s.logged[-1]["litellm_params"]["metadata"]["routing_decision"] == decision
    await s.runtime.shutdown()


def test_signals_normalised_within_a_range_match_the_whole_ranking() -> None:
    """A few candidates normalised over the range of all of them give the values the ranking saw."""
    s = Stack({"strategy": "balanced"}, extra=8)
    index = s.runtime.catalogue.index()
    observations = s.runtime.catalogue.observations
    request = RequestFacts(prompt_tokens=100, max_output_tokens=200)
    everyone = np.arange(index.size)
    whole = compute_signals(index, observations, everyone, request, ("cost", "speed"))
    ranking = s.runtime.decider.effective_strategy("balanced").rank(index, everyone, request, 5, observations)
    few = ranking.positions[:3]
    ranged = compute_signals(index, observations, few, request, ("cost", "speed"), ranges=ranking.ranges)
    for name in ("cost", "speed"):
        assert ranged[name] == pytest.approx(whole[name][few])


async def test_a_rule_names_itself_and_the_name_it_routed_as() -> None:
    s = Stack(
        {"rules": [{"name": "haiku-to-qwen", "match": {"model": "claude-*-haiku*"}, "route": "tag:qwen3"}]}
    )
    outcome = await s.call("claude-3-5-haiku-latest")
    assert outcome.status == 200
    ticket = s.ticket()
    assert ticket["model"] == "claude-3-5-haiku-latest"
    assert ticket["rule"] == "haiku-to-qwen" and ticket["routed_as"] == "tag:qwen3"
    decision = s.logged[-1]["standard_logging_object"]["metadata"]["routing_decision"]
    assert "rule haiku-to-qwen" in decision["signals"] and "routed as tag:qwen3" in decision["signals"]
    await s.runtime.shutdown()


async def test_the_priority_strategy_has_no_signals_only_its_order() -> None:
    s = Stack({"strategy": "priority"})
    await s.call()
    ticket = s.ticket()
    assert ticket["strategy"] == "priority" and ticket["weights"] == {}
    assert all("v" not in c for c in ticket["candidates"])
    await s.runtime.shutdown()


async def test_a_channel_says_how_many_outcomes_its_success_rate_rests_on() -> None:
    s = Stack()
    s.router.answers("free-a", failure(500, "free-a is down"))
    await s.call()
    channels = {c["id"]: c for c in s.runtime.admin.channels()}
    assert channels["free-a"]["observations"] == 1 and channels["free-a"]["success_rate"] < 0.9
    assert channels["cheap-b"]["observations"] == 1
    assert channels["dear-c"]["observations"] == 0 and channels["dear-c"]["success_rate"] == 0.9  # the prior
    await s.runtime.shutdown()


def test_a_long_failover_keeps_its_first_and_last_attempts() -> None:
    from router_ext.runtime import tickets

    tried = [{"channel": f"c{i}", "ms": 1.0, "error": "temporary"} for i in range(20)]
    stack = Stack()
    ticket = tickets.build_ticket(
        {"candidates": ["free-a"], "strategy": "cost_first"},
        tried,
        stack.runtime.catalogue,
        stack.runtime.state.strategies,
    )
    assert ticket is not None
    assert [a["channel"] for a in ticket["attempts"]] == ["c0", "c1", "c2", "c3", "c16", "c17", "c18", "c19"]
    assert ticket["attempts_left_out"] == 12
