"""What the byte relay of streamed chat answers decides without a proxy: which requests and
deployments it takes, the requested name stamped into frames, and an upstream error it relays
classified by the upstream's own status and body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from router_ext.litellm_seam.chat_relay import (
    RelayableDeployments,
    reachable,
    relayable_body,
    relayable_params,
)
from router_ext.public_model import restamp_sse_bytes
from router_ext.relay_first_frame import (
    TIMEOUT_HEADER,
    FirstFrameMissing,
    FirstFrameRelayClient,
    check_frame,
    first_frame,
)
from router_ext.state.channel_health import classify_exception


def test_only_plain_openai_chat_streams_are_relayed() -> None:
    chat = {"model": "tag:f", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert relayable_body(chat)
    assert not relayable_body({**chat, "stream": False})
    assert not relayable_body({**chat, "mock_response": "x"})  # a LiteLLM field: LiteLLM's path
    assert not relayable_body({**chat, "messages": "hi"})


def test_only_openai_wire_deployments_with_plain_settings_are_relayed() -> None:
    plain = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1", "api_key": "k"}
    assert relayable_params(plain)
    assert relayable_params({**plain, "model": "hosted_vllm/m"})
    assert not relayable_params({**plain, "model": "anthropic/claude"})
    assert not relayable_params({"model": "openai/gpt-4o", "api_key": "k"})  # OpenAI itself: no base
    assert not relayable_params({**plain, "extra_headers": {"x": "1"}})
    assert relayable_params({**plain, "model": "openai/vendor/m"})  # an aggregator's vendor prefix
    # LiteLLM's pass-through would strip the second `openai/` its chat path keeps
    assert not relayable_params({**plain, "model": "openai/openai/m"})
    assert relayable_params({**plain, "model": "vendor/m", "custom_llm_provider": "openai"})


def test_a_routed_request_reaches_its_model_then_its_fallbacks() -> None:
    assert reachable({"model": "a", "fallbacks": [{"a": ["b", "c"]}]}) == ["a", "b", "c"]
    assert reachable({"model": "a"}) == ["a"]


def test_frames_carry_the_requested_name_even_split_across_reads() -> None:
    frames = [
        b'data: {"id":"1","model":"up/m-1","choices":[{"delta":{"content":"a \\"model\\": x"}}]}\n\n',
        b'data: {"id":"2", "model" : "up/m-1","choices":[]}\n\ndata: [DONE]\n\n',
    ]
    joined = b"".join(frames)
    pieces = [joined[:17], joined[17:90], joined[90:]]

    async def upstream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def relayed() -> bytes:
        return b"".join([chunk async for chunk in restamp_sse_bytes(upstream(), "tag:f")])

    out = asyncio.run(relayed())
    events = [json.loads(line[6:]) for line in out.decode().split("\n\n") if line.startswith("data: {")]
    assert [e["model"] for e in events] == ["tag:f", "tag:f"]
    assert events[0]["choices"][0]["delta"]["content"] == 'a "model": x'
    assert out.endswith(b"data: [DONE]\n\n")


def test_a_relayed_upstream_error_is_classified_by_its_status_and_body() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    body = {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}
    response = httpx.Response(401, json=body, request=request)
    error = httpx.HTTPStatusError("Client error '401 Unauthorized'", request=request, response=response)
    verdict = classify_exception(error, 0.0)
    assert (verdict.status, verdict.reason) == (401, "invalid_key")


def test_a_plain_text_stream_is_joined_and_anything_else_left_to_litellm() -> None:
    from router_ext.litellm_seam.chat_relay import plain_text_answer

    lines = [
        'data: {"id":"c1","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"he"}}]}',
        'data: {"id":"c1","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}',
        'data: {"id":"c1","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}',
        "data: [DONE]",
    ]
    answer = plain_text_answer(lines, "m")
    assert answer.choices[0].message.content == "hello"
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 2)
    assert plain_text_answer(lines[:2], "m") is None  # no usage: LiteLLM counts
    tool = 'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]}}]}'
    assert plain_text_answer([tool, *lines], "m") is None


def test_a_joined_answer_keeps_every_character_json_escaped_and_openais_null_fields() -> None:
    from router_ext.litellm_seam.chat_relay import plain_text_answer

    texts = ['He said "hi"\n', "\\ back", " \u6211 \U0001f600", "</tag>"]
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "gpt-x"}

    def line(delta: dict, finish: str | None = None, usage: dict | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "data: " + json.dumps({**head, "choices": [choice], "usage": usage}, ensure_ascii=True)

    lines = [
        line({"role": "assistant", "content": "", "refusal": None}),  # as OpenAI sends its first chunk
        *(line({"content": text}) for text in texts),
        line({}, "length"),
        "data: " + json.dumps({**head, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}}),
        "data: [DONE]",
    ]
    answer = plain_text_answer(lines, "m")
    assert answer.choices[0].message.content == "".join(texts)
    assert (answer.choices[0].finish_reason, answer.id, answer.model) == ("length", "chatcmpl-1", "gpt-x")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 4)
    reasoning = line({"reasoning_content": "think"})
    assert plain_text_answer([reasoning, *lines], "m") is None  # LiteLLM's rebuild keeps reasoning


def test_a_relayed_upstream_that_times_out_or_drops_is_a_temporary_failure() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    timeout = classify_exception(httpx.ReadTimeout("timed out", request=request), 0.0)
    assert (timeout.kind.value, timeout.status, timeout.reason) == ("temporary", 408, "timeout")
    dropped = classify_exception(httpx.RemoteProtocolError("peer closed connection", request=request), 0.0)
    assert (dropped.kind.value, dropped.status) == ("temporary", None)


def test_the_first_frame_is_the_first_complete_event_with_data() -> None:
    assert first_frame(b'data: {"id": 1') is None  # not complete yet
    assert first_frame(b': keep-alive\n\ndata: {"id": 1}\n\n') == b'{"id": 1}'  # comments skipped
    assert first_frame(b'event: x\r\ndata: {"a": 2}\r\n\r\n') == b'{"a": 2}'
    assert first_frame(b"data: [DONE]\n\n") == b"[DONE]"


def test_a_first_frame_that_is_no_answer_is_a_failure_of_the_attempt() -> None:
    check_frame(b'{"id": "c", "choices": []}')
    check_frame(b"[DONE]")
    for bad in (b'{"id": "c", "choices": [', b'{"error": {"message": "overloaded"}}'):
        try:
            check_frame(bad)
        except FirstFrameMissing as error:
            assert classify_exception(error, 0.0).reason == "connection_error"
        else:
            raise AssertionError(f"{bad!r} passed")


def test_the_relay_client_sends_on_the_peeked_bytes_then_the_rest_and_applies_the_timeout() -> None:
    frames = [b'data: {"id": "c", "choices": [{"delta": {"content": "a"}}]}\n', b"\n", b"data: [DONE]\n\n"]

    async def upstream(request: httpx.Request) -> httpx.Response:
        assert TIMEOUT_HEADER not in request.headers  # ours, never sent on
        assert request.extensions["timeout"]["read"] == 1.5

        async def body() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame

        return httpx.Response(200, content=body())

    async def relay() -> bytes:
        async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as inner:
            client = FirstFrameRelayClient(inner).client
            request = client.build_request(
                "POST", "http://upstream/v1/chat/completions", headers={TIMEOUT_HEADER: "1.5"}
            )
            response = await client.send(request, stream=True)
            return b"".join([piece async for piece in response.aiter_bytes()])

    assert asyncio.run(relay()) == b"".join(frames)


def test_a_routers_deployments_are_judged_by_what_they_set_not_by_litellms_own_flags() -> None:
    from litellm import Router

    plain = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1", "api_key": "k", "timeout": 1}
    router = Router(
        model_list=[
            {"model_name": "m", "litellm_params": plain, "model_info": {"id": "plain"}},
            {
                "model_name": "m",
                "litellm_params": {**plain, "drop_params": True},
                "model_info": {"id": "dropping"},
            },
        ]
    )
    relayable = RelayableDeployments()
    assert relayable(router, "plain") and relayable(router, "plain")  # the second from the cache
    assert not relayable(router, "dropping")
    assert not relayable(router, "missing")


def test_the_relay_leaves_the_call_to_litellms_processing_when_a_feature_needs_it() -> None:
    import litellm
    from litellm.integrations.custom_guardrail import CustomGuardrail
    from litellm.integrations.custom_logger import CustomLogger

    from router_ext.litellm_seam.relay_call import litellm_processing_needed

    class Moderation(CustomLogger):
        async def async_moderation_hook(
            self, data: dict, user_api_key_dict: object, call_type: object
        ) -> None:
            return None

    stream = {"model": "d-1", "stream": True, "messages": []}
    saved = list(litellm.callbacks)
    try:
        litellm.callbacks = [CustomLogger()]
        assert not litellm_processing_needed(stream, None, {})
        assert litellm_processing_needed(stream, None, {"cancel_on_disconnect": True})
        litellm.callbacks = [CustomLogger(), CustomGuardrail(guardrail_name="g")]
        assert litellm_processing_needed(stream, None, {})  # it may run during or after the call
        litellm.callbacks = [Moderation()]
        assert litellm_processing_needed(stream, None, {})
        litellm.callbacks = []
        litellm.sse_keepalive_ping_interval_seconds = 5.0  # pings before the first byte are LiteLLM's
        assert litellm_processing_needed(stream, None, {})
    finally:
        litellm.callbacks = saved
        litellm.sse_keepalive_ping_interval_seconds = None
