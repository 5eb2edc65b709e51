"""Reliability and security through the real proxy: admin reads right after a start, request
fields that would widen what a key or a virtual name allows, what a rejection says and logs."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from scripts.stack import Proxy, Simulator, openai_client

HELLO = [{"role": "user", "content": "hello there"}]
CONTEXT_EXCEEDED = {
    "status": 400,
    "body": {
        "error": {
            "message": "This model's maximum context length is 40960 tokens. However, your messages resulted in 90000 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
}


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def paid_calls(simulator: Simulator) -> int:
    return sum(
        v for k, v in simulator.control("paid")["requests"].items() if not k.startswith(("key:", "GET "))
    )


def test_admin_reads_right_after_a_start_wait_for_the_store_and_answer(
    proxy: Proxy, admin: httpx.Client
) -> None:
    # The first module test: this proxy has just started, its store starts after the first answer.
    openai_client(proxy).chat.completions.create(model="tag:qwen,free", messages=HELLO)
    for path in ("/routing/stats", "/routing/records", "/routing/keys"):
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text)


@pytest.mark.parametrize(
    "field",
    [
        {"context_window_fallbacks": [{"*": ["gpt-4o-mini"]}]},
        {"fallbacks": ["gpt-4o-mini"]},
        {"fallbacks": [{"*": ["paid-gpt-4o-mini"]}], "num_retries": 3},
    ],
)
@pytest.mark.parametrize("caller", ["master", "client key"])
def test_no_request_field_takes_auto_free_to_a_paid_channel(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client, field: dict[str, Any], caller: str
) -> None:
    key = proxy.master_key
    if caller == "client key":
        key = admin.post("/routing/keys", json={"name": "free-only", "models": ["auto:free"]}).json()["key"]
    before = paid_calls(simulator)
    simulator.control("free", {"steps": [{**CONTEXT_EXCEEDED, "times": 5}]})
    try:
        with pytest.raises(openai.BadRequestError) as raised:
            openai_client(proxy, api_key=key).chat.completions.create(
                model="auto:free", messages=HELLO, extra_body=field
            )
        assert "maximum context length" in raised.value.response.json()["error"]["message"]
    finally:
        simulator.control("free", {"reset": True})
    assert paid_calls(simulator) == before


def test_a_client_key_cannot_send_a_list_of_models(proxy: Proxy, admin: httpx.Client) -> None:
    key = admin.post("/routing/keys", json={"name": "one-at-a-time", "models": ["auto:free"]}).json()["key"]
    response = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": ["auto:free", "gpt-4o-mini"], "messages": HELLO},
        timeout=30,
    )
    assert response.status_code in (400, 403), response.text
    assert "paid" not in response.text


def test_a_rejection_says_no_attempt_was_made_and_is_logged_once(proxy: Proxy) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        openai_client(proxy).chat.completions.create(model="tag:nothing-carries-this", messages=HELLO)
    headers = raised.value.response.headers
    assert headers["x-router-status"] == "tag-not-found"
    assert headers["x-router-attempts"] == "0"
    assert "x-router-strategy" not in headers
    lines = [line for line in proxy.log().splitlines() if "nothing-carries-this" in line]
    assert len(lines) == 1, lines
    assert '"status": "rejected"' in lines[0]


@pytest.mark.parametrize("endpoint", ["responses", "messages"])
def test_no_request_field_takes_auto_free_to_a_paid_channel_on_other_endpoints(
    proxy: Proxy, simulator: Simulator, endpoint: str
) -> None:
    import anthropic

    before = paid_calls(simulator)
    simulator.control("free", {"steps": [{**CONTEXT_EXCEEDED, "times": 5}]})
    body = {"context_window_fallbacks": [{"*": ["gpt-4o-mini"]}], "fallbacks": ["gpt-4o-mini"]}
    try:
        if endpoint == "responses":
            with pytest.raises(openai.BadRequestError):
                openai_client(proxy).responses.create(model="auto:free", input="hello", extra_body=body)
        else:
            claude = anthropic.Anthropic(base_url=proxy.base_url, api_key=proxy.master_key, max_retries=0)
            with pytest.raises(anthropic.BadRequestError):
                claude.messages.create(model="auto:free", max_tokens=8, messages=HELLO, extra_body=body)  # type: ignore[arg-type]
    finally:
        simulator.control("free", {"reset": True})
    assert paid_calls(simulator) == before
