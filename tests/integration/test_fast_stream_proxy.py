"""`smart_router.fast_streams`: a streamed chat answer from OpenAI-compatible channels is relayed as
bytes through LiteLLM's pass-through machinery, and keeps what the normal path gives: failover before
the first byte, our headers, the requested name in every chunk, usage and cost from the upstream's
final usage, one record, LiteLLM's own loggers called once. What cannot be relayed takes LiteLLM's
chat path: both are tested here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.stack import Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
WORDS = 40


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {
            "providers": [
                {"name": "pool", "models": ["f-model"], "api_key": "sk-good", "stream_words": WORDS},
                {"name": "claude", "models": ["claude-x"], "api_key": "sk-ant-good", "native": ["messages"]},
                {"name": "flaky", "models": ["s-model"], "api_key": "sk-flaky", "stream_words": WORDS},
            ]
        }
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def probe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fast-stream") / "probe.jsonl"


@pytest.fixture(scope="module")
def proxy(simulator: Simulator, probe_file: Path) -> Iterator[Proxy]:
    running = start_proxy(
        render_config(HERE / "fast_stream_config.yaml", simulator.ports),
        env={"SPEND_LOG_PROBE": str(probe_file)},
    )
    yield running
    running.stop()


def record_of(proxy: Proxy, request_id: str) -> dict[str, Any]:
    admin = httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [
            r
            for r in admin.get("/routing/records?limit=50").json()["records"]
            if r["request_id"] == request_id
        ]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no record of {request_id}")


def probed(probe_file: Path) -> list[Any]:
    if not probe_file.exists():
        return []
    return [json.loads(line) for line in probe_file.read_text().splitlines() if line]


def test_a_stream_is_relayed_after_failing_over_from_a_dead_key(proxy: Proxy, probe_file: Path) -> None:
    before = len(probed(probe_file))
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:f", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert raw.headers["x-router-path"] == "relay"
    # f-dead is the cheapest and its key is revoked: refused before any byte, the next one answers
    assert raw.headers["x-router-channel"] == "f-good"
    assert raw.headers["x-router-attempts"] == "2"
    # LiteLLM's own headers, as its request processing sends them
    assert raw.headers["x-litellm-model-id"] == "f-good"
    assert raw.headers["x-litellm-call-id"] and raw.headers["x-litellm-version"]
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    # the stream ends once it is logged: LiteLLM's loggers already ran when the client has it all
    assert len(probed(probe_file)) == before + 1
    assert {c.model for c in chunks} == {"tag:f"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[pool] f-model says hello") and f"w{WORDS - 1}" in text
    # the client did not ask for usage: the frame we asked the upstream for is not passed on
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    record = record_of(proxy, raw.headers["x-router-request-id"])
    assert (record["deployment_id"], record["status"], record["attempts"]) == ("f-good", "success", 2)
    assert record["completion_tokens"] > 0
    assert 0 < record["ttft_ms"] < record["latency_ms"]
    expected = record["prompt_tokens"] * 1e-6 + record["completion_tokens"] * 2e-6
    assert record["cost_usd"] == pytest.approx(expected)
    time.sleep(0.5)  # a second, duplicate logger call would land within this
    assert len(probed(probe_file)) == before + 1


def test_usage_asked_for_is_the_upstreams_and_priced(proxy: Proxy) -> None:
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="f-good",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-router-path"] == "relay"
    chunks = list(raw.parse())
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    record = record_of(proxy, raw.headers["x-router-request-id"])
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert record["cost_usd"] == pytest.approx(usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6)


def test_what_cannot_be_relayed_takes_litellms_chat_path(proxy: Proxy) -> None:
    client = openai_client(proxy)
    # an Anthropic channel speaks Messages, not OpenAI's chat stream: LiteLLM translates
    raw = client.chat.completions.with_raw_response.create(
        model="tag:c", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "x-router-path" not in raw.headers
    assert raw.headers["x-router-channel"] == "x-claude"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert "claude-x" in text
    # not a stream
    whole = client.chat.completions.with_raw_response.create(
        model="tag:f", messages=[{"role": "user", "content": "hi"}]
    )
    assert "x-router-path" not in whole.headers
    assert whole.parse().model == "tag:f"
    # a LiteLLM field the relay does not carry
    litellm_field = client.chat.completions.with_raw_response.create(
        model="tag:f",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"drop_params": True},
    )
    assert "x-router-path" not in litellm_field.headers
    assert "f-model says" in "".join(
        c.choices[0].delta.content or "" for c in litellm_field.parse() if c.choices
    )


def test_a_stream_with_every_channel_failing_gets_our_503(proxy: Proxy) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        json={"model": "f-dead", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        timeout=30,
    )
    assert response.status_code == 503, response.text
    assert "sk-revoked" not in response.text
    error = response.json()["error"]
    assert error["type"] == "all_channels_failed"
    # the upstream's own 401 reached the classifier through the relay: a dead key, disabled for good
    assert [c["reason"] for c in error["provider_specific_fields"]["channels"]] == ["invalid_key"]


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({"drop_stream": True}, "connection_error"),  # 200, then the connection closes
        ({"malformed": True}, "connection_error"),  # 200, then a frame that is not JSON
        ({"first_token_delay": 3}, "timeout"),  # 200, then nothing within the channel's 1 s
    ],
)
def test_a_relayed_stream_that_fails_before_its_first_frame_fails_over(
    proxy: Proxy, simulator: Simulator, step: dict[str, Any], reason: str
) -> None:
    admin = httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"})
    assert admin.post("/routing/channels/s-flaky/enable").status_code == 200
    simulator.control("flaky", {"reset": True, "steps": [dict(step, times=1)]})
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:s", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert raw.headers["x-router-path"] == "relay"
    assert (raw.headers["x-router-channel"], raw.headers["x-router-attempts"]) == ("s-steady", "2")
    assert text.startswith("[pool]") and text.split()[-1] == f"w{WORDS - 1}", text  # the whole answer
    flaky = next(c for c in admin.get("/routing/channels").json()["channels"] if c["id"] == "s-flaky")
    assert (flaky["last_error_class"], flaky["last_error_reason"]) == ("temporary", reason)
