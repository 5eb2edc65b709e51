"""The request that teaches the breakers does not fail while a channel can answer: five channels
behind one tag, the three cheapest failing fast (a dead key, a 429 with Retry-After, a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.stack import Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
MODELS = ["p-dead-key", "p-rate-limited", "p-broken", "p-good", "p-good-too"]
FAILURES = [
    {
        "model": "p-dead-key",
        "status": 401,
        "times": "forever",
        "body": {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    },
    {
        "model": "p-rate-limited",
        "status": 429,
        "times": "forever",
        "headers": {"retry-after": "30"},
        "body": {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
    },
    {
        "model": "p-broken",
        "status": 500,
        "times": "forever",
        "body": {"error": {"message": "The server had an error", "type": "server_error"}},
    },
]


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {
            "providers": [
                {
                    "name": "pool",
                    "models": MODELS,
                    "api_key": [f"sk-pool-{i}" for i in range(1, 6)],
                    "steps": FAILURES,
                }
            ]
        }
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(render_config(HERE / "failover_config.yaml", simulator.ports))
    yield running
    running.stop()


def test_the_first_request_is_answered_by_the_first_channel_that_can(
    proxy: Proxy, simulator: Simulator
) -> None:
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:pool", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-router-channel"] == "pool-4"
    assert raw.headers["x-router-attempts"] == "4"  # three fast failures cost nothing
    requests = simulator.control("pool")["requests"]
    assert all(requests.get(m) == 1 for m in MODELS[:4]) and "p-good-too" not in requests
    again = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:pool", messages=[{"role": "user", "content": "hi"}]
    )
    assert again.headers["x-router-channel"] == "pool-4"
    # The breakers learned: the dead key and the 429's Retry-After are skipped; one 500 is not
    # enough to open a breaker (failure_threshold), so that channel is tried once more.
    assert again.headers["x-router-attempts"] == "2"
    after = simulator.control("pool")["requests"]
    assert (after["p-dead-key"], after["p-rate-limited"], after["p-broken"]) == (1, 1, 2)


def test_a_stream_fails_over_the_same_way_before_its_first_byte(proxy: Proxy) -> None:
    admin = httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"})
    for channel in ("pool-1", "pool-2", "pool-3"):  # forget what the first test taught
        assert admin.post(f"/routing/channels/{channel}/enable").status_code == 200
    stream = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:pool", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream.parse() if chunk.choices)
    assert stream.headers["x-router-channel"] == "pool-4"
    assert "says hello" in text
