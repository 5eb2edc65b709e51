"""Health end to end: classification, breakers, failover, key rotation, recovery, admin."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from scripts.stack import (
    Proxy,
    Simulator,
    free_port,
    openai_client,
    render_config,
    start_proxy,
    start_simulator,
)

HERE = Path(__file__).parent
HELLO = [{"role": "user", "content": "hello"}]
PROVIDERS = {
    "providers": [
        {"name": "deadkey", "models": ["m-pool"], "api_key": "sk-the-real-key"},
        {"name": "limited", "models": ["m-pool"], "api_key": "sk-limited"},
        {"name": "ok_a", "models": ["m-pool"], "api_key": "sk-ok-a"},
        {"name": "ok_b", "models": ["m-pool"], "api_key": "sk-ok-b"},
        {"name": "ok_c", "models": ["m-pool"], "api_key": "sk-ok-c"},
        {"name": "flaky", "models": ["m-flaky"], "api_key": "sk-flaky"},
        {"name": "steady", "models": ["m-steady"], "api_key": "sk-steady"},
        {
            "name": "freebroken",
            "models": ["m-free"],
            "api_key": "sk-free",
            "steps": [
                {"status": 500, "body": {"error": {"message": "free tier broken"}}, "times": "forever"}
            ],
        },
        {"name": "rotation", "models": ["m-rot"], "api_key": ["sk-rot-1", "sk-rot-2"]},
    ]
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    config = render_config(HERE / "health_config.yaml", {**simulator.ports, "closed": free_port()})
    running = start_proxy(config)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(proxy: Proxy) -> openai.OpenAI:
    return openai_client(proxy)


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def channel(admin: httpx.Client, channel_id: str) -> dict:
    return next(c for c in admin.get("/routing/channels").json()["channels"] if c["id"] == channel_id)


def reset(admin: httpx.Client, simulator: Simulator, *ids: str) -> None:
    for channel_id in ids:
        assert admin.post(f"/routing/channels/{channel_id}/enable").status_code == 200


def test_two_thousand_requests_with_two_failing_channels_show_no_errors(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    simulator.control(
        "limited",
        {
            "reset": True,
            "steps": [
                {
                    "status": 429,
                    "body": {
                        "error": {
                            "message": "Rate limit reached",
                            "type": "requests",
                            "code": "rate_limit_exceeded",
                        }
                    },
                    "headers": {"retry-after": "2"},
                    "times": 3,
                }
            ],
        },
    )

    def one(i: int) -> tuple[str, str]:
        raw = client.chat.completions.with_raw_response.create(model="tag:pool", messages=HELLO, max_tokens=5)
        raw.parse()
        return raw.headers["x-router-channel"], raw.headers["x-router-attempts"]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(2000)))
    elapsed = time.monotonic() - started
    served = [served for served, _ in results]
    assert len(results) == 2000  # every request answered 200 (an error would have raised)
    assert "deadkey" not in served
    dead = channel(admin, "deadkey")
    assert dead["state"] == "disabled" and dead["last_error_class"] == "permanent"
    assert dead["last_error_reason"] == "invalid_key"
    assert dead["key_disabled"] is True
    # disabled after its first failure: only requests already in flight then reached it
    assert simulator.control("deadkey")["failures"] <= 20
    # the rate-limited channel came back after its Retry-After and served again
    limited = simulator.control("limited")
    assert limited["failures"] >= 1 and limited["successes"] > 0
    assert channel(admin, "limited")["state"] == "closed"
    assert served.count("limited") > 100, f"limited served {served.count('limited')} in {elapsed:.0f}s"
    print(f"2000 requests at concurrency 20 in {elapsed:.1f} s ({2000 / elapsed:.0f} req/s)")


@pytest.mark.parametrize(
    ("step", "error_class", "reason"),
    [
        (
            {"status": 500, "body": {"error": {"message": "boom", "type": "server_error"}}},
            "temporary",
            "server_error",
        ),
        (
            {
                "status": 529,
                "body": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            },
            "temporary",
            "overloaded",
        ),
        (
            {"status": 402, "body": {"error": {"message": "Insufficient credits.", "code": 402}}},
            "permanent",
            "insufficient_credit",
        ),
        (
            {
                "status": 429,
                "body": {
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            },
            "permanent",
            "insufficient_credit",
        ),
        (
            {
                "status": 404,
                "body": {
                    "error": {"message": "The model `m-flaky` does not exist", "code": "model_not_found"}
                },
            },
            "model_unavailable",
            "model_not_found",
        ),
        ({"delay": 3}, "temporary", "timeout"),
        ({"drop": True}, "temporary", None),
        ({"malformed": True}, "temporary", None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_each_failure_shape_fails_over_and_is_classified(
    client: openai.OpenAI,
    admin: httpx.Client,
    simulator: Simulator,
    step: dict,
    error_class: str,
    reason: str | None,
    stream: bool,
) -> None:
    reset(admin, simulator, "flaky", "steady")
    simulator.control("flaky", {"reset": True, "steps": [dict(step, times=1)]})
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="tag:shape", messages=HELLO, stream=True, stream_options={"include_usage": True}
        ) as response:
            text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
            served, attempts = response.headers["x-router-channel"], response.headers["x-router-attempts"]
    else:
        raw = client.chat.completions.with_raw_response.create(model="tag:shape", messages=HELLO)
        text = raw.parse().choices[0].message.content or ""
        served, attempts = raw.headers["x-router-channel"], raw.headers["x-router-attempts"]
    if step.get("malformed") and stream and served == "flaky":
        pytest.fail("a malformed stream was passed to the client instead of failing over")
    assert (served, attempts) == ("steady", "2")
    assert "m-steady says hello" in text
    status = channel(admin, "flaky")
    assert status["last_error_class"] == error_class
    if reason:
        assert status["last_error_reason"] == reason


def test_a_stream_that_breaks_before_its_first_chunk_fails_over(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    reset(admin, simulator, "flaky", "steady")
    simulator.control("flaky", {"reset": True, "steps": [{"drop_stream": True, "times": 1}]})
    with client.chat.completions.with_streaming_response.create(
        model="tag:shape", messages=HELLO, stream=True
    ) as response:
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        assert (response.headers["x-router-channel"], response.headers["x-router-attempts"]) == (
            "steady",
            "2",
        )
    assert "m-steady says hello" in text.replace("  ", " ")
    assert simulator.control("flaky")["failures"] == 1
    assert channel(admin, "flaky")["last_error_class"] == "temporary"


def test_refused_connection_fails_over(client: openai.OpenAI, admin: httpx.Client) -> None:
    raw = client.chat.completions.with_raw_response.create(model="tag:refusing", messages=HELLO)
    assert raw.headers["x-router-channel"] == "refused-twin"
    assert channel(admin, "refused")["last_error_class"] == "temporary"


def test_auto_free_never_fails_over_to_a_paid_channel(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    reset(admin, simulator, "free-broken")
    before = simulator.control("steady")["successes"]
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="auto:free", messages=HELLO)
    assert raised.value.status_code == 503
    assert raised.value.response.headers["x-router-status"] == "all-channels-failed"
    assert simulator.control("steady")["successes"] == before
    # the same channels through a plain tag query may use the paid one
    raw = client.chat.completions.with_raw_response.create(
        model="tag:freeonly", messages=HELLO, extra_headers={"x-router-strategy": "free_first"}
    )
    assert raw.headers["x-router-channel"] == "paid-fine"


def test_every_channel_failing_is_a_503_with_reasons_and_retry_after(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    reset(admin, simulator, "flaky", "steady")
    boom = {"status": 500, "body": {"error": {"message": "boom"}}, "times": 2}
    overloaded = {
        "status": 503,
        "body": {"error": {"message": "busy"}},
        "headers": {"retry-after": "3"},
        "times": 2,
    }
    simulator.control("flaky", {"reset": True, "steps": [boom]})
    simulator.control("steady", {"reset": True, "steps": [overloaded]})
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="tag:shape", messages=HELLO)
    response = raised.value.response
    assert response.status_code == 503
    assert response.headers["x-router-status"] == "all-channels-failed"
    assert response.headers["x-router-attempts"] == "2"
    assert 1 <= int(response.headers["retry-after"]) <= 3
    error = response.json()["error"]
    assert error["type"] == "all_channels_failed"
    assert {c["channel"] for c in error["provider_specific_fields"]["channels"]} == {"flaky", "steady"}
    assert "flaky: server_error" in error["message"]
    # steady said Retry-After: 3, so it is open now; one more failure on flaky opens it too
    assert channel(admin, "steady")["state"] == "open"
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="tag:shape", messages=HELLO)
    assert channel(admin, "flaky")["state"] == "open"
    with pytest.raises(openai.APIStatusError) as raised:  # both open: refused before any upstream call
        client.chat.completions.create(model="tag:shape", messages=HELLO)
    assert raised.value.response.status_code == 503
    assert raised.value.response.headers["x-router-status"] == "all-channels-failed"
    assert int(raised.value.response.headers["retry-after"]) >= 1
    reset(admin, simulator, "flaky", "steady")


def test_caller_errors_pass_through_and_do_not_punish(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    reset(admin, simulator, "flaky", "steady")
    too_long = {
        "status": 400,
        "body": {
            "error": {
                "message": "This model's maximum context length is 4097 tokens",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
        "times": 1,
    }
    simulator.control("flaky", {"reset": True, "steps": [too_long]})
    simulator.control("steady", {"reset": True, "steps": [too_long]})
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="tag:shape", messages=HELLO)
    assert "maximum context length" in raised.value.response.text
    assert channel(admin, "flaky")["state"] == "closed"
    assert channel(admin, "flaky")["last_error_class"] == "caller"


def test_recovery_probe_readmits_a_channel_without_user_traffic(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    reset(admin, simulator, "flaky", "steady")
    boom = {"status": 500, "body": {"error": {"message": "boom"}}, "times": 2}
    simulator.control("flaky", {"reset": True, "steps": [boom]})
    for _ in range(2):
        assert (
            client.chat.completions.with_raw_response.create(model="tag:shape", messages=HELLO).headers[
                "x-router-channel"
            ]
            == "steady"
        )
    assert channel(admin, "flaky")["state"] == "open"
    probes_before = simulator.control("flaky")["requests"].get("GET /models", 0)
    deadline = time.monotonic() + 10
    while channel(admin, "flaky")["state"] != "closed" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert channel(admin, "flaky")["state"] == "closed"
    assert simulator.control("flaky")["requests"].get("GET /models", 0) > probes_before
    assert simulator.control("flaky")["requests"].get("m-flaky", 0) == 2  # no user request paid for it
    assert (
        client.chat.completions.with_raw_response.create(model="tag:shape", messages=HELLO).headers[
            "x-router-channel"
        ]
        == "flaky"
    )


def test_key_rotation_spreads_load_and_survives_a_dead_key(
    client: openai.OpenAI, admin: httpx.Client, simulator: Simulator
) -> None:
    served = [
        client.chat.completions.with_raw_response.create(model="tag:rot", messages=HELLO).headers[
            "x-router-channel"
        ]
        for _ in range(10)
    ]
    assert served.count("rot-1") == 5 and served.count("rot-2") == 5
    keys = simulator.control("rotation")["requests"]
    assert keys["key:...ot-1"] >= 5 and keys["key:...ot-2"] >= 5
    assert admin.post("/routing/channels/rot-1/disable").json()["state"] == "disabled"
    served = [
        client.chat.completions.with_raw_response.create(model="tag:rot", messages=HELLO).headers[
            "x-router-channel"
        ]
        for _ in range(4)
    ]
    assert served == ["rot-2"] * 4
    assert admin.post("/routing/channels/rot-1/enable").json()["state"] == "closed"


def test_channels_admin(proxy: Proxy, admin: httpx.Client) -> None:
    listing = admin.get("/routing/channels")
    assert listing.status_code == 200
    body = listing.text
    for secret in ("sk-revoked-key-123456", "sk-ok-a", "sk-rot-1", "sk-the-real-key", proxy.master_key):
        assert secret not in body
    first = listing.json()["channels"][0]
    assert first["key_fingerprint"].startswith("fp-")
    assert {"state", "consecutive_failures", "reopen_at", "last_error_class", "last_error"} <= set(first)
    assert admin.post("/routing/channels/nope/enable").status_code == 404
    assert admin.post("/routing/channels/nope/reset").json()["error"]["type"] == "channel_not_found"
    assert httpx.post(f"{proxy.base_url}/routing/channels/ok-a/disable").status_code == 401
    assert admin.post("/routing/channels/ok-c/disable").json()["state"] == "disabled"
    assert admin.post("/routing/channels/ok-c/reset").json()["state"] == "closed"
    explain = admin.get("/routing/explain", params={"model": "tag:pool"}).json()
    assert {"channel": "deadkey", "filter": "health"} in [
        {k: e[k] for k in ("channel", "filter")} for e in explain["excluded"]
    ]
