"""The LiteLLM seam, through the real proxy:
- the relay (our copy of LiteLLM's streamed chat path) sends the upstream exactly what LiteLLM's
  own path sends, for every deployment shape: path, query, model, auth and extra headers, body;
  a shape it cannot match is left to LiteLLM;
- a LiteLLM internal that is missing switches its feature off, says so once, and requests pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.litellm_seam.internals import HIDDEN_ENV
from scripts.stack import Proxy, Simulator, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
SHAPES = (
    "shape-plain",
    "shape-vendor",
    "shape-openai-openai",
    "shape-vllm",
    "shape-custom-provider",
    "shape-base-path",
    "shape-extra-headers",
    "shape-organization",
    "shape-api-version",
    "shape-openrouter",
    "shape-timeout",
)
COMPARED_HEADERS = ("authorization", "openai-organization", "x-extra", "api-key", "content-type")
STREAM_ONLY = ("stream", "stream_options")
HELLO = [{"role": "user", "content": "hello there"}]
RELAY_CONFIG = "litellm.llms.vllm.passthrough.transformation:VLLMPassthroughConfig"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(
        {
            "providers": [
                {
                    "name": "up",
                    "models": ["sim-model", "vendor/sim-model", "openai/sim-model"],
                    "api_key": "sk-shape",
                    "stream_words": 5,
                }
            ]
        }
    )
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(render_config(HERE / "relay_shapes_config.yaml", simulator.ports))
    yield running
    running.stop()


def control(simulator: Simulator, **payload: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:{simulator.ports['up']}/_control"
    answer = httpx.post(url, json=payload) if payload else httpx.get(url)
    answer.raise_for_status()
    return answer.json()


def chat(simulator: Simulator, proxy: Proxy, body: dict[str, Any]) -> httpx.Response:
    """One chat request, with the upstream's record of what it received cleared first."""
    control(simulator, reset=True)
    return httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        timeout=30,
    )


def sent_upstream(simulator: Simulator, proxy: Proxy, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What the upstream received for one request, and the path the proxy took."""
    answer = chat(simulator, proxy, body)
    assert answer.status_code == 200, answer.text
    if body.get("stream"):
        assert "data: [DONE]" in answer.text
    seen = control(simulator)["seen"]
    assert len(seen) == 1, seen
    return seen[0], answer.headers.get("x-router-path", "litellm")


def comparable(request: dict[str, Any]) -> dict[str, Any]:
    headers = request["headers"]
    return {
        "path": request["path"],
        "query": request["query"],
        "headers": {name: headers.get(name) for name in COMPARED_HEADERS},
        "body": {k: v for k, v in request["body"].items() if k not in STREAM_ONLY},
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_the_relay_sends_upstream_what_litellms_own_path_sends(
    simulator: Simulator, proxy: Proxy, shape: str
) -> None:
    body = {"model": shape, "messages": HELLO, "max_tokens": 20, "temperature": 0.5, "seed": 7}
    litellms, _ = sent_upstream(simulator, proxy, body)
    streamed, path = sent_upstream(simulator, proxy, {**body, "stream": True})
    assert comparable(streamed) == comparable(litellms), f"{shape} ({path})"


FIELDS: dict[str, Any] = {
    "user": "u-1",
    "seed": 3,
    "n": 1,
    "stop": ["x"],
    "top_p": 0.9,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.1,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": {"type": "json_object"},
    "reasoning_effort": "low",
    "service_tier": "auto",
    "store": False,
    "modalities": ["text"],
    "prediction": {"type": "content", "content": "x"},
    "verbosity": "low",
    "prompt_cache_key": "k",
    "safety_identifier": "s",
    "max_completion_tokens": 10,
}


def answered(simulator: Simulator, proxy: Proxy, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """The proxy's status and the body the upstream received (None when nothing reached it)."""
    answer = chat(simulator, proxy, body)
    seen = control(simulator)["seen"]
    sent = {k: v for k, v in seen[-1]["body"].items() if k not in STREAM_ONLY} if seen else None
    return answer.status_code, sent


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_request_field_reaches_the_upstream_as_litellm_sends_it(
    simulator: Simulator, proxy: Proxy, field: str
) -> None:
    body = {"model": "shape-plain", "messages": HELLO, field: FIELDS[field]}
    litellms = answered(simulator, proxy, body)
    assert answered(simulator, proxy, {**body, "stream": True}) == litellms, field


def test_the_relay_takes_the_plain_shapes_and_leaves_the_others_to_litellm(
    simulator: Simulator, proxy: Proxy
) -> None:
    taken = {
        shape
        for shape in SHAPES
        if sent_upstream(simulator, proxy, {"model": shape, "messages": HELLO, "stream": True})[1] == "relay"
    }
    # A second provider prefix (openai/openai/...) is stripped twice by LiteLLM's pass-through:
    # the relay cannot match it, so it must not take it.
    assert "shape-openai-openai" not in taken
    assert {"shape-plain", "shape-vendor", "shape-vllm", "shape-base-path", "shape-timeout"} <= taken
    assert not {"shape-extra-headers", "shape-organization", "shape-api-version", "shape-openrouter"} & taken


@pytest.fixture(scope="module")
def relay_off_proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(
        render_config(HERE / "relay_shapes_config.yaml", simulator.ports), env={HIDDEN_ENV: RELAY_CONFIG}
    )
    yield running
    running.stop()


def test_a_missing_internal_switches_its_feature_off_and_requests_still_pass(
    simulator: Simulator, relay_off_proxy: Proxy
) -> None:
    version = httpx.get(
        f"{relay_off_proxy.base_url}/routing/version",
        headers={"Authorization": f"Bearer {relay_off_proxy.master_key}"},
    ).json()
    assert version["features"]["relay"]["on"] is False
    assert RELAY_CONFIG in version["features"]["relay"]["why_off"]
    assert version["features"]["body_guard"]["on"] is True
    log = relay_off_proxy.log()
    assert f"LiteLLM {version['litellm_version']}: relay is off" in log
    assert "requests take LiteLLM's own path" in log
    _, path = sent_upstream(
        simulator, relay_off_proxy, {"model": "shape-plain", "messages": HELLO, "stream": True}
    )
    assert path == "litellm"
    streamed = httpx.post(
        f"{relay_off_proxy.base_url}/v1/chat/completions",
        json={"model": "shape-plain", "messages": HELLO, "stream": True},
        headers={"Authorization": f"Bearer {relay_off_proxy.master_key}"},
        timeout=30,
    )
    assert streamed.status_code == 200 and streamed.headers.get("x-router-channel") == "shape-plain"
    assert "data: [DONE]" in streamed.text


def test_the_version_route_is_for_admins(proxy: Proxy) -> None:
    assert httpx.get(f"{proxy.base_url}/routing/version").status_code == 401
    version = httpx.get(
        f"{proxy.base_url}/routing/version", headers={"Authorization": f"Bearer {proxy.master_key}"}
    ).json()
    assert all(feature["on"] for feature in version["features"].values()), version
    assert version["litellm_version"] in version["checked_versions"]
