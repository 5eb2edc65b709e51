"""Free tiers used to the last request without a 429: rate-limit windows learned from the
upstreams' own headers (OpenAI's and OpenRouter's formats) and configured caps, through the real
proxy against simulated providers that enforce and announce their limits."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from scripts.stack import Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
CAP, WINDOW_S = 5, 8.0  # each free channel: 5 requests per 8 s


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {
            "providers": [
                {
                    "name": "free_a",
                    "models": ["wl-free-a"],
                    "api_key": "sk-free-a",
                    "rate_limit": {"requests": CAP, "window_s": WINDOW_S, "style": "openai"},
                },
                {
                    "name": "free_b",
                    "models": ["wl-free-b"],
                    "api_key": "sk-free-b",
                    "rate_limit": {"requests": CAP, "window_s": WINDOW_S, "style": "openrouter"},
                },
                {"name": "hedge_one", "models": ["hg-one", "hgp-free"], "api_key": "sk-h"},
                {"name": "hedge_two", "models": ["hg-two", "hgp-paid"], "api_key": "sk-h"},
                {
                    "name": "paid",
                    "models": [
                        "wl-paid",
                        "capped-model",
                        "pl-one",
                        "pl-two",
                        "st-one",
                        "st-two",
                        "bd-dear",
                        "bd-cheap",
                    ],
                    "api_key": "sk-paid",
                },
            ]
        }
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(render_config(HERE / "limits_config.yaml", simulator.ports))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    ) as client:
        yield client


def counters(simulator: Simulator, name: str) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{simulator.ports[name]}/_control").json())


def reset(simulator: Simulator) -> None:
    for name in ("free_a", "free_b", "paid"):
        httpx.post(f"http://127.0.0.1:{simulator.ports[name]}/_control", json={"reset": True})


def served_by(proxy: Proxy, model: str = "tag:wl", **headers: str) -> str:
    answer = openai_client(proxy).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], extra_headers=headers
    )
    return str(answer.headers["x-router-channel"])


def wait_for_windows_to_reset(admin: httpx.Client) -> None:
    deadline = time.monotonic() + WINDOW_S + 5
    while True:
        excluded = admin.get("/routing/explain", params={"model": "tag:wl"}).json()["excluded"]
        if not any(e["filter"] == "headroom" for e in excluded):
            return
        assert time.monotonic() < deadline, f"still excluded: {excluded}"
        time.sleep(0.1)


def test_three_times_a_free_cap_goes_free_free_then_paid_with_no_429_upstream(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    reset(simulator)
    # 3x one channel's cap, 4 at a time from the start: until a channel's first answer nothing
    # is known of its window; from then on every send counts against it.
    with ThreadPoolExecutor(4) as pool:
        served = list(pool.map(lambda _: served_by(proxy), range(3 * CAP)))
    # Never past a cap (below: zero 429s). Requests still in flight count as spent, so under a
    # burst a free channel may stop one short of its cap; the sequential test below is exact.
    assert CAP - 1 <= served.count("free-a") <= CAP and CAP - 1 <= served.count("free-b") <= CAP, served
    assert served.count("paid") == 3 * CAP - served.count("free-a") - served.count("free-b")
    for name in ("free_a", "free_b"):
        assert counters(simulator, name)["requests"].get("429", 0) == 0, counters(simulator, name)
    channels = {c["id"]: c for c in admin.get("/routing/channels").json()["channels"]}
    window = channels["free-a"]["rate_limits"][0]
    assert (window["kind"], window["limit"], window["remaining"], window["source"]) == (
        "requests",
        CAP,
        CAP - served.count("free-a"),
        "headers",
    )
    assert channels["free-b"]["rate_limits"][0]["limit"] == CAP  # OpenRouter's X-RateLimit-* format
    explained = admin.get("/routing/explain", params={"model": "tag:wl"}).json()
    spent = {e["channel"]: e for e in explained["excluded"] if e["filter"] == "headroom"}
    full = {c for c in ("free-a", "free-b") if served.count(c) == CAP}
    assert set(spent) == full and all("announced by the upstream" in spent[c]["reason"] for c in full)
    assert "paid" in [r["channel"] for r in explained["ranked"]]


def test_no_request_goes_to_the_paid_channel_while_a_free_one_has_headroom(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    wait_for_windows_to_reset(admin)  # back at the reset, without a failed request
    reset(simulator)
    served = [served_by(proxy) for _ in range(2 * CAP)]
    assert "paid" not in served and set(served) == {"free-a", "free-b"}
    assert served_by(proxy) == "paid"
    for name in ("free_a", "free_b"):
        assert counters(simulator, name)["requests"].get("429", 0) == 0


def test_a_configured_cap_is_counted_here(proxy: Proxy, admin: httpx.Client) -> None:
    assert [served_by(proxy, "tag:capped") for _ in range(2)] == ["capped", "capped"]
    with pytest.raises(openai.APIStatusError) as raised:
        served_by(proxy, "tag:capped")
    assert raised.value.status_code in (429, 503)
    assert "retry-after" in raised.value.response.headers
    capped = next(c for c in admin.get("/routing/channels").json()["channels"] if c["id"] == "capped")
    assert capped["rate_limits"][0]["source"] == "config" and capped["rate_limits"][0]["limit"] == 2


# -- hedged streams ---------------------------------------------------------------------------------
def script(simulator: Simulator, provider: str, model: str, first_token_delay: float) -> None:
    step = {"model": model, "first_token_delay": first_token_delay, "times": 1}
    httpx.post(f"http://127.0.0.1:{simulator.ports[provider]}/_control", json={"steps": [step]})


def fast_stream(proxy: Proxy, model: str) -> tuple[dict[str, str], str, float]:
    """(headers, text, seconds to the first token) of a stream under speed_optimized."""
    started = time.monotonic()
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-router-strategy": "speed_optimized"},
    )
    text, first = "", None
    for chunk in raw.parse():
        assert chunk.model == model
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.monotonic() - started
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert first is not None, text
    return dict(raw.headers), text, first


def first_ranked(admin: httpx.Client, model: str) -> str:
    explained = admin.get("/routing/explain", params={"model": model, "strategy": "speed_optimized"}).json()
    return str(explained["ranked"][0]["channel"])


def race_of(admin: httpx.Client) -> tuple[str, str, str, str]:
    """(the first-ranked hedge channel, the other, their simulated providers in that order)."""
    primary = first_ranked(admin, "tag:hg")
    if primary == "hg-one":
        return primary, "hg-two", "hedge_one", "hedge_two"
    return primary, "hg-one", "hedge_two", "hedge_one"


def record_of(admin: httpx.Client, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in admin.get("/routing/records").json()["records"] if r["request_id"] == request_id]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, f"no record of {request_id}"
        time.sleep(0.1)


def warm(proxy: Proxy, admin: httpx.Client, send: Any = None) -> None:
    """An endpoint's first call pays LiteLLM's own start-up. Its first token moves the speed
    ranking only when the request concludes, after the client has its answer: wait for its record,
    or explain may rank on the figures from before it."""
    headers, _, _ = (send or functools.partial(fast_stream, model="tag:hg"))(proxy)
    record_of(admin, headers["x-router-request-id"])


def closed_before_first_token(simulator: Simulator, provider: str) -> int:
    return int(counters(simulator, provider)["requests"].get("stream_closed_before_first_token", 0))


def wait_closed(simulator: Simulator, provider: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while closed_before_first_token(simulator, provider) < count:
        assert time.monotonic() < deadline, counters(simulator, provider)
        time.sleep(0.05)


def test_a_late_first_token_is_hedged_onto_the_next_free_channel_and_the_first_token_wins(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    warm(proxy, admin)
    primary, backup, slow, quick = race_of(admin)
    closed_before = closed_before_first_token(simulator, slow)
    script(simulator, slow, primary, 2.0)
    headers, text, first = fast_stream(proxy, "tag:hg")
    # hedged after the 300 ms an unobserved channel is given, not after the 2 s
    assert first < 1.5 and headers["x-router-channel"] == backup and text.startswith(f"[{quick}]"), (
        first,
        headers,
        text,
    )
    wait_closed(simulator, slow, closed_before + 1)  # the loser's connection was closed
    record = record_of(admin, headers["x-router-request-id"])
    hedge = json.loads(record["hedge"])
    assert (hedge["primary"], hedge["hedge"], hedge["winner"]) == (primary, backup, backup)
    assert 250 <= hedge["after_ms"] < 1000 and record["deployment_id"] == backup
    assert record["status"] == "success" and record["ttft_ms"] >= hedge["after_ms"]
    assert record["cost_usd"] == 0 and hedge["loser_cost_usd"] == 0  # free both: nothing billed twice


def test_when_the_first_candidate_answers_first_after_all_the_hedge_is_closed(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    warm(proxy, admin)
    primary, backup, slow, other = race_of(admin)
    closed_before = closed_before_first_token(simulator, other)
    script(simulator, slow, primary, 0.6)
    script(simulator, other, backup, 3.0)
    headers, text, first = fast_stream(proxy, "tag:hg")
    assert headers["x-router-channel"] == primary and text.startswith(f"[{slow}]") and first < 2.0
    hedge = json.loads(record_of(admin, headers["x-router-request-id"])["hedge"])
    assert (hedge["primary"], hedge["hedge"], hedge["winner"]) == (primary, backup, primary)
    assert hedge["after_ms"] is not None  # the hedge went out, and lost
    wait_closed(simulator, other, closed_before + 1)


def messages_stream(proxy: Proxy) -> tuple[dict[str, str], str, float]:
    """An Anthropic Messages stream (the official SDK), as Claude Code sends them."""
    client = anthropic.Anthropic(base_url=proxy.base_url, api_key=proxy.master_key)
    started = time.monotonic()
    raw = client.messages.with_raw_response.create(
        model="tag:hg",
        max_tokens=32,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-router-strategy": "speed_optimized"},
    )
    text, first = "", None
    for event in raw.parse():
        if event.type == "message_start":
            assert event.message.model == "tag:hg"
        if event.type == "content_block_delta" and getattr(event.delta, "text", ""):
            first = first if first is not None else time.monotonic() - started
            text += event.delta.text
    assert first is not None, text
    return dict(raw.headers), text, first


def responses_stream(proxy: Proxy) -> tuple[dict[str, str], str, float]:
    started = time.monotonic()
    raw = openai_client(proxy).responses.with_raw_response.create(
        model="tag:hg", input="hi", stream=True, extra_headers={"x-router-strategy": "speed_optimized"}
    )
    text, first = "", None
    for event in raw.parse():
        if event.type == "response.output_text.delta":
            first = first if first is not None else time.monotonic() - started
            text += event.delta
    assert first is not None, text
    return dict(raw.headers), text, first


def late_headers(simulator: Simulator, provider: str, model: str, seconds: float) -> None:
    """The upstream holds the request before it sends its headers (a queueing provider)."""
    step = {"model": model, "delay": seconds, "times": 1}
    httpx.post(f"http://127.0.0.1:{simulator.ports[provider]}/_control", json={"steps": [step]})


@pytest.mark.parametrize("late", ["first_token", "headers"])
@pytest.mark.parametrize(
    "send", [messages_stream, responses_stream, functools.partial(fast_stream, model="tag:hg")],
    ids=["messages", "responses", "chat"],
)  # fmt: skip
def test_a_slow_tail_is_hedged_whatever_its_shape_on_every_endpoint(
    send: Any, late: str, proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    warm(proxy, admin, send)
    tried = []
    for _ in range(4):
        # The speed ranking moves with every first token: the late channel must be the one the
        # request is routed to first, or the race is run again.
        primary, backup, slow, quick = race_of(admin)
        closed_before = closed_before_first_token(simulator, slow)
        if late == "headers":
            late_headers(simulator, slow, primary, 2.0)
        else:
            script(simulator, slow, primary, 2.0)
        headers, text, first = send(proxy)
        hedge = json.loads(record_of(admin, headers["x-router-request-id"])["hedge"] or "{}")
        if hedge.get("primary") == primary:
            break
        tried.append((primary, hedge, headers.get("x-router-channel")))
        # the unused slow step must not delay a later request (its counters stay)
        httpx.post(f"http://127.0.0.1:{simulator.ports[slow]}/_control", json={"clear_steps": True})
    else:
        pytest.fail(f"explain's first-ranked channel was never the one routed to first: {tried}")
    # the winner's bytes as soon as they exist: not after the late primary's 2 s
    assert headers["x-router-channel"] == backup and text.startswith(f"[{quick}]") and first < 1.5, (
        first,
        headers,
        text,
    )
    if late == "first_token":
        wait_closed(simulator, slow, closed_before + 1)
    assert (hedge["primary"], hedge["winner"]) == (primary, backup) and hedge["after_ms"] >= 250


def test_a_whole_answer_is_hedged_when_configured(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    warm(proxy, admin)
    primary, backup, slow, _ = race_of(admin)
    step = {"model": primary, "delay": 2.0, "times": 1}
    httpx.post(f"http://127.0.0.1:{simulator.ports[slow]}/_control", json={"steps": [step]})
    started = time.monotonic()
    answer = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:hg",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-router-strategy": "speed_optimized"},
    )
    took = time.monotonic() - started
    assert answer.headers["x-router-channel"] == backup and took < 1.5, (took, dict(answer.headers))
    assert answer.parse().model == "tag:hg"
    hedge = json.loads(record_of(admin, answer.headers["x-router-request-id"])["hedge"])
    assert (hedge["primary"], hedge["winner"]) == (primary, backup) and hedge["after_ms"] >= 250


def test_no_hedge_onto_a_paid_channel_by_default(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    before = counters(simulator, "hedge_two")["requests"].get("hgp-paid", 0)
    script(simulator, "hedge_one", "hgp-free", 0.8)
    headers, _, first = fast_stream(proxy, "tag:hgp")  # speed_optimized ranks free before paid
    assert headers["x-router-channel"] == "hgp-free" and first >= 0.8
    assert counters(simulator, "hedge_two")["requests"].get("hgp-paid", 0) == before
    assert record_of(admin, headers["x-router-request-id"])["hedge"] is None


def test_a_plain_name_with_several_deployments_counts_each_send_where_it_went(
    proxy: Proxy, admin: httpx.Client
) -> None:
    served = [served_by(proxy, "pl-group") for _ in range(3)]
    channels = {c["id"]: c for c in admin.get("/routing/channels").json()["channels"]}

    # the configured window (LiteLLM also announces its own count of an `rpm`, learned as headers)
    def used_of(cid: str) -> int:  # a deployment LiteLLM never picked has no counted window yet
        counted = [w for w in channels[cid]["rate_limits"] if w["source"] == "config" and w["reset_at"]]
        return int(counted[0]["limit"] - counted[0]["remaining"]) if counted else 0

    used = {cid: used_of(cid) for cid in ("pl-one", "pl-two")}
    assert used == {cid: served.count(cid) for cid in ("pl-one", "pl-two")} and sum(used.values()) == 3


# -- sticky sessions --------------------------------------------------------------------------------
def session(name: str, strategy: str) -> dict[str, str]:
    return {"x-session-id": name, "x-router-strategy": strategy}


def test_a_session_stays_on_its_channel_while_it_is_within_the_cost_margin(proxy: Proxy) -> None:
    assert served_by(proxy, "tag:st", **session("conv-1", "cost_first")) == "st-one"
    # quality_optimized alone would pick st-two; the conversation stays where its cache is
    assert served_by(proxy, "tag:st", **session("fresh", "quality_optimized")) == "st-two"
    assert served_by(proxy, "tag:st", **session("conv-1", "quality_optimized")) == "st-one"
    answer = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:st",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers=session("conv-1", "balanced"),
    )
    assert answer.headers["x-router-channel"] == "st-one" and answer.headers["x-router-sticky"] == "1"


def test_a_session_too_dear_to_stay_moves_and_one_whose_channel_fails_is_released(
    proxy: Proxy, simulator: Simulator
) -> None:
    assert served_by(proxy, "tag:st", **session("conv-2", "quality_optimized")) == "st-two"
    assert served_by(proxy, "tag:st", **session("conv-2", "balanced")) == "st-two"  # 10 % dearer: within 25 %
    assert served_by(proxy, "tag:st", **session("conv-2", "cost_first")) == "st-one"  # cost_first allows 5 %
    step = {
        "model": "st-one",
        "status": 500,
        "times": 1,
        "body": {"error": {"message": "boom", "type": "server_error"}},
    }
    httpx.post(f"http://127.0.0.1:{simulator.ports['paid']}/_control", json={"steps": [step]})
    assert served_by(proxy, "tag:st", **session("conv-2", "cost_first")) == "st-two"  # failed over
    # released from st-one: the session now lives on st-two, within the balanced margin
    assert served_by(proxy, "tag:st", **session("conv-2", "balanced")) == "st-two"


# -- near a budget (runs last: it spends this module's budget) ------------------------------------
def test_near_the_budget_weight_moves_from_quality_to_cost_step_by_step(
    proxy: Proxy, admin: httpx.Client
) -> None:
    seen: list[tuple[str, str, str | None]] = []
    while admin.get("/routing/spend").json()["day"]["spent_usd"] < 0.009 and len(seen) < 200:
        answer = openai_client(proxy).chat.completions.with_raw_response.create(
            model="tag:bd",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=5,
            extra_headers={"x-router-strategy": "quality_optimized"},
        )
        seen.append(
            (
                answer.headers["x-router-channel"],
                answer.headers["x-router-strategy"],
                answer.headers.get("x-router-weights"),
            )
        )
        if answer.headers["x-router-channel"] == "bd-cheap":
            break
    strategies = [s for _, s, _ in seen]
    assert strategies[0] == "quality_optimized" and seen[0][0] == "bd-dear"
    steps = [s for s in dict.fromkeys(strategies) if "@budget-" in s]
    assert steps and steps[0] == "quality_optimized@budget-1/4"  # in steps, not one switch
    assert seen[-1][0] == "bd-cheap" and seen[-1][2] is not None and "cost=" in seen[-1][2]
    explained = admin.get(
        "/routing/explain", params={"model": "tag:bd", "strategy": "quality_optimized", "max_tokens": 5}
    ).json()
    assert explained["strategy"].startswith("quality_optimized@budget-")
    assert explained["weights"]["cost"] > 0.10 and explained["weights"]["quality"] < 0.70
