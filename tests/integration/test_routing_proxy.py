"""The routing core and strategies through the real proxy, with the official openai client."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from scripts.stack import Proxy, Simulator, openai_client

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def client(proxy: Proxy) -> openai.OpenAI:
    return openai_client(proxy)


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def chat(client: openai.OpenAI, model: str, **extra: object):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(model=model, messages=HELLO, **extra)  # type: ignore[call-overload]


def test_plain_model_passes_through_with_headers(client: openai.OpenAI) -> None:
    raw = chat(client, "gpt-4o-mini")
    completion = raw.parse()
    assert "[paid] gpt-4o-mini" in completion.choices[0].message.content
    assert raw.headers["x-router-channel"] == "paid-gpt-4o-mini"
    assert raw.headers["x-router-model"] == "openai/gpt-4o-mini"
    assert raw.headers["x-router-attempts"] == "1"


def test_tag_query_with_comma_routes_to_one_channel(client: openai.OpenAI) -> None:
    raw = chat(client, "tag:qwen,free")
    completion = raw.parse()
    assert raw.headers["x-router-channel"] == "free-qwen3-30b"
    assert raw.headers["x-router-model"] == "openai/qwen/qwen3-30b-a3b:free"
    assert raw.headers["x-router-strategy"] == "balanced"
    assert float(raw.headers["x-router-score"]) > 0
    assert completion.model == "tag:qwen,free"
    assert "[free] qwen/qwen3-30b-a3b:free" in completion.choices[0].message.content


def test_tag_query_without_comma_and_tags_prefix(client: openai.OpenAI) -> None:
    assert chat(client, "tag:gemma").headers["x-router-channel"] == "free-gemma-270m"
    assert chat(client, "tags:GEMMA").headers["x-router-channel"] == "free-gemma-270m"


def test_negative_tag(client: openai.OpenAI) -> None:
    served = {
        chat(client, "tag:qwen,!free", extra_headers={"x-router-strategy": s}).headers["x-router-channel"]
        for s in ("cost_first", "quality_optimized", "local_first")
    }
    assert served <= {"paid-qwen3-235b", "local-qwen2.5-7b"}
    assert "free-qwen3-30b" not in served


def test_size_and_context_filters(client: openai.OpenAI) -> None:
    assert chat(client, "tag:>=100b").headers["x-router-channel"] == "paid-qwen3-235b"
    assert chat(client, "tag:<=270m").headers["x-router-channel"] == "free-gemma-270m"
    raw = chat(client, "tag:ctx>=128k", extra_headers={"x-router-strategy": "cost_first"})
    assert raw.headers["x-router-channel"] == "paid-gpt-4o-mini"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("auto:free", {"free-qwen3-30b", "free-gemma-270m"}),
        ("auto:local", {"local-qwen2.5-7b"}),
        ("auto:cheap", {"free-qwen3-30b", "free-gemma-270m", "local-qwen2.5-7b"}),
        ("auto:best", {"paid-qwen3-235b"}),
        ("auto:bigqwen", {"paid-qwen3-235b"}),
    ],
)
def test_virtual_names(client: openai.OpenAI, model: str, expected: set[str]) -> None:
    raw = chat(client, model)
    assert raw.headers["x-router-channel"] in expected
    assert raw.parse().choices[0].message.content


def test_auto_and_auto_fast_answer(client: openai.OpenAI) -> None:
    for model in ("auto", "auto:fast"):
        raw = chat(client, model)
        assert raw.headers["x-router-channel"]
        assert raw.parse().choices[0].message.content


def test_streaming_carries_headers_and_usage(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="tag:qwen,free", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["x-router-channel"] == "free-qwen3-30b"
        assert response.headers["x-router-strategy"] == "balanced"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "qwen/qwen3-30b-a3b:free says hello" in text
    assert any(c.usage and c.usage.total_tokens > 0 for c in chunks)


@pytest.mark.parametrize("model", ["tag:", "tag:,,", "tag:>=xb", "tag:qwen/qwen3"])
def test_malformed_query_is_400(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        chat(client, model)
    assert raised.value.response.headers["x-router-status"] == "tag-query-invalid"
    body = raised.value.response.json()
    assert body["error"]["type"] == "invalid_tag_query"
    assert body["error"]["message"]


def test_no_match_is_404_with_closest_tags(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        chat(client, "tag:qwn,free")
    response = raised.value.response
    assert response.status_code == 404
    assert response.headers["x-router-status"] == "tag-not-found"
    error = response.json()["error"]
    assert error["type"] == "tag_not_found"
    assert "qwen" in error["message"]


def test_no_verified_free_channel_among_matches(client: openai.OpenAI) -> None:
    # `tag:llama` matches only a paid channel: auto:free semantics are not implied by a tag,
    # but a user virtual name with free_only would refuse it; here the plain tag serves it.
    assert chat(client, "tag:llama").headers["x-router-channel"] == "paid-llama-70b"


def test_tools_skip_a_channel_known_not_to_support_them(client: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    with pytest.raises(openai.BadRequestError) as raised:
        chat(client, "tag:llama", tools=tools)
    assert "tools filter" in raised.value.response.json()["error"]["message"]


def test_models_list_has_real_and_virtual_names(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o-mini", "qwen3-30b-free"} <= ids
    assert {"auto", "auto:free", "auto:local", "auto:cheap", "auto:fast", "auto:best", "auto:bigqwen"} <= ids


def test_routing_tags(admin: httpx.Client) -> None:
    body = admin.get("/routing/tags").json()
    counts = {entry["tag"]: entry["channels"] for entry in body["tags"]}
    assert body["channels"] == 6
    assert counts["qwen"] == 3
    assert counts["free"] == 2
    assert counts["qwen3-30b-a3b"] == 1


@pytest.mark.parametrize("path", ["/routing/tags", "/routing/strategy", "/routing/explain?model=auto"])
def test_admin_routes_answer_401_json(proxy: Proxy, path: str) -> None:
    missing = httpx.get(proxy.base_url + path)
    wrong = httpx.get(proxy.base_url + path, headers={"Authorization": "Bearer sk-wrong"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "unauthorized"
    assert proxy.master_key not in wrong.text


def test_models_without_a_key_is_401_not_500(proxy: Proxy) -> None:
    response = httpx.get(proxy.base_url + "/v1/models")
    assert response.status_code == 401


def test_openapi_lists_our_routes(proxy: Proxy) -> None:
    paths = httpx.get(proxy.base_url + "/openapi.json", timeout=120).json()["paths"]
    assert {"/routing/tags", "/routing/strategy", "/routing/explain"} <= set(paths)
    assert "put" in paths["/routing/strategy"]


def test_switching_the_strategy_changes_the_serving_channel(
    client: openai.OpenAI, admin: httpx.Client
) -> None:
    try:
        assert (
            admin.put("/routing/strategy", json={"strategy": "local_first"}).json()["strategy"]
            == "local_first"
        )
        raw = chat(client, "tag:qwen")
        assert (raw.headers["x-router-channel"], raw.headers["x-router-strategy"]) == (
            "local-qwen2.5-7b",
            "local_first",
        )
        admin.put("/routing/strategy", json={"strategy": "quality_optimized"})
        assert admin.get("/routing/strategy").json()["strategy"] == "quality_optimized"
        assert chat(client, "tag:qwen").headers["x-router-channel"] == "paid-qwen3-235b"
    finally:
        admin.put("/routing/strategy", json={"strategy": "balanced"})


def test_per_request_override_by_header_and_metadata(client: openai.OpenAI) -> None:
    raw = chat(client, "tag:qwen", extra_headers={"x-router-strategy": "local_first"})
    assert raw.headers["x-router-channel"] == "local-qwen2.5-7b"
    raw = chat(client, "tag:qwen", extra_body={"metadata": {"router_strategy": "quality_optimized"}})
    assert raw.headers["x-router-channel"] == "paid-qwen3-235b"
    assert raw.headers["x-router-strategy"] == "quality_optimized"


def test_unknown_strategy_is_400_listing_valid_ones(client: openai.OpenAI, admin: httpx.Client) -> None:
    response = admin.put("/routing/strategy", json={"strategy": "cheapest"})
    assert response.status_code == 400
    assert "cost_first" in response.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as raised:
        chat(client, "auto", extra_headers={"x-router-strategy": "cheapest"})
    assert "free_first" in raised.value.response.json()["error"]["message"]


def test_explain_ranks_with_signals_and_exclusions(admin: httpx.Client) -> None:
    body = admin.get(
        "/routing/explain", params={"model": "auto", "strategy": "cost_first", "tools": "true"}
    ).json()
    assert body["strategy"] == "cost_first"
    assert body["weights"]["cost"] == 0.6
    first = body["ranked"][0]
    assert set(first["signals"]) == {"cost", "free", "local", "speed", "quality", "reliability", "headroom"}
    assert first["total"] == pytest.approx(
        sum(s["contribution"] for s in first["signals"].values()), abs=1e-4
    )
    totals = [entry["total"] for entry in body["ranked"]]
    assert totals == sorted(totals, reverse=True)
    assert {k: v for k, v in body["excluded"][0].items() if k != "reason"} == {
        "channel": "paid-llama-70b",
        "filter": "tools",
    }


def test_explain_bad_input(admin: httpx.Client) -> None:
    assert admin.get("/routing/explain", params={"model": "tag:>=xb"}).status_code == 400
    assert admin.get("/routing/explain", params={"model": "gpt-4o-mini"}).status_code == 400
    assert admin.get("/routing/explain", params={"model": "auto", "strategy": "nope"}).status_code == 400
    assert admin.get("/routing/explain").status_code in (400, 422)


def test_simulated_provider_saw_the_concrete_model(simulator: Simulator) -> None:
    counters = simulator.control("free")
    assert counters["requests"].get("qwen/qwen3-30b-a3b:free", 0) >= 1
    assert "tag:qwen,free" not in counters["requests"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"model": "tag:free", "messages": "hello"}, "messages"),
        ("/v1/chat/completions", {"model": "tag:free", "messages": HELLO, "timeout": "abc"}, "timeout"),
        ("/v1/chat/completions", {"model": "tag:free", "messages": HELLO, "stream": "yes"}, "stream"),
        (
            "/v1/chat/completions",
            {"model": "tag:free", "messages": HELLO, "max_tokens": 10**400},
            "max_tokens",
        ),
        ("/v1/messages", {"model": "tag:free", "max_tokens": 20, "messages": HELLO, "stream": 1}, "stream"),
        ("/v1/responses", {"model": "tag:free", "input": 5}, "input"),
        ("/v1/completions", {"model": "tag:free", "prompt": 5}, "prompt"),
        (
            "/v1/completions",
            {"model": "tag:free", "prompt": "hi", "response_format": {"type": "x"}},
            "response_format",
        ),
    ],
)
def test_a_malformed_request_is_a_400_and_no_channels_failure(
    proxy: Proxy, admin: httpx.Client, path: str, body: dict[str, object], param: str
) -> None:
    before = {c["id"]: c["consecutive_failures"] for c in admin.get("/routing/channels").json()["channels"]}
    for _ in range(3):  # three used to open the breakers of every channel they were routed to
        answer = admin.post(path, json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]  # Anthropic's error shape on /v1/messages has no `param`
        assert error.get("param", param) == param and f"{param}: must be" in error["message"], error
    after = {c["id"]: c["consecutive_failures"] for c in admin.get("/routing/channels").json()["channels"]}
    assert after == before


# Routes LiteLLM registers lazily (/v1/responses, /v1/embeddings) are not covered (router_ext/body_guard.py)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/messages"])
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[1, 2]", "must be a JSON object ({...}), not an array"),
        (b"null", "must be a JSON object ({...}), not null"),
        (b'"hello"', "must be a JSON object ({...}), not a string"),
        (
            b'{"model": "tag:free", "input": "x", "messages": [], "api_base": "http://127.0.0.1:9"}',
            "api_base",
        ),
        (
            b'{"model": "tag:free", "input": "x", "messages": [], "base_url": "http://127.0.0.1:9"}',
            "base_url",
        ),
    ],
)
def test_a_body_litellms_auth_cannot_take_is_a_400_not_a_500(
    proxy: Proxy, admin: httpx.Client, path: str, body: bytes, says: str
) -> None:
    answer = admin.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]["message"]
    # still the key first: no key, or a wrong one, is a 401 whatever the body
    for key in ({}, {"Authorization": "Bearer sk-wrong"}):
        anonymous = httpx.post(
            proxy.base_url + path, content=body, headers={"content-type": "application/json", **key}
        )
        assert anonymous.status_code == 401, anonymous.text


def test_an_upstream_key_in_the_body_is_refused_and_adds_no_channel(
    proxy: Proxy, admin: httpx.Client
) -> None:
    before = admin.get("/routing/channels").json()["channels"]
    answer = admin.post(
        "/v1/chat/completions", json={"model": "tag:free", "messages": HELLO, "api_key": "sk-someone-else"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "api_key" and "Authorization: Bearer" in error["message"]
    assert "sk-someone-else" not in answer.text
    assert admin.get("/routing/channels").json()["channels"] == before


COMPLEX = (
    "Design a rate limiter for our multi-region API: compare token bucket and sliding window, "
    "discuss the trade-offs in consistency and performance, and give a migration plan."
)
PROOF = "Prove that the square root of 2 is irrational, rigorously, by contradiction."


def ask(client: openai.OpenAI, prompt: str, model: str = "auto:smart", **extra: object):  # type: ignore[no-untyped-def]
    messages = [{"role": "user", "content": prompt}]
    return client.chat.completions.with_raw_response.create(model=model, messages=messages, **extra)  # type: ignore[call-overload]


def test_auto_smart_serves_each_tier_from_the_cheapest_channel_above_its_floor(client: openai.OpenAI) -> None:
    served = {}
    for prompt in ("hello there", COMPLEX, PROOF):
        raw = ask(client, prompt)
        served[raw.headers["x-router-tier"]] = (
            raw.headers["x-router-channel"],
            raw.headers["x-router-floor"],
        )
    assert served == {
        "simple": ("free-qwen3-30b", "0"),
        # the free Qwen3 30B (0.59 in the sourced table) is good enough for a complex prompt
        "complex": ("free-qwen3-30b", "0.55"),
        # a reasoning prompt needs 0.7 and a thinking model: only the 235B is both
        "reasoning": ("paid-qwen3-235b", "0.7"),
    }


def test_a_streamed_answer_carries_the_tier_too(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="auto:smart", messages=[{"role": "user", "content": PROOF}], stream=True
    ) as response:
        assert response.headers["x-router-tier"] == "reasoning"
        assert response.headers["x-router-channel"] == "paid-qwen3-235b"
        assert "".join(response.iter_lines())


def test_explain_shows_the_prompts_tier_and_the_floors_exclusions(admin: httpx.Client) -> None:
    explained = admin.get("/routing/explain", params={"model": "auto:smart", "prompt": COMPLEX}).json()
    assert explained["difficulty"]["tier"] == "complex"
    assert explained["difficulty"]["signals"]["complex"] > 0
    assert explained["floor"] == {
        "tier": "complex",
        "minimum": 0.55,
        "kind": explained["difficulty"]["kind"],
        "needs_reasoning": False,
        "stepped_down_from": None,
        "excluded": 2,
    }
    below = {e["channel"] for e in explained["excluded"] if e["filter"] == "floor"}
    assert below == {"free-gemma-270m", "local-qwen2.5-7b"}
    assert explained["ranked"][0]["channel"] == "free-qwen3-30b"
    assert explained["ranked"][0]["quality_source"] == "table:qwen3-30b-a3b"
    raised = admin.get(
        "/routing/explain", params={"model": "auto:smart", "prompt": "hi", "tier": "reasoning"}
    )
    assert raised.json()["floor"]["tier"] == "reasoning"


def test_feedback_by_api_and_by_header_moves_the_channel_for_that_kind(
    client: openai.OpenAI, admin: httpx.Client
) -> None:
    raw = ask(client, COMPLEX)
    request_id, kind = raw.headers["x-router-request-id"], raw.headers["x-router-kind"]
    scored = admin.post("/routing/feedback", json={"request_id": request_id, "score": 0})
    assert scored.status_code == 200, scored.text
    assert scored.json()["channel"] == "free-qwen3-30b" and scored.json()["kind"] == kind
    assert scored.json()["quality"]["result"] < scored.json()["quality"]["prior"]
    explained = admin.get("/routing/explain", params={"model": "auto:smart", "prompt": COMPLEX}).json()
    learned = next(c for c in explained["ranked"] if c["channel"] == "free-qwen3-30b")["learned"]
    assert learned == {"prior": 0.59, "good": 0.0, "bad": 1.0, "result": round(0.59 * 20 / 21, 4)}
    # the next request carries a score for the last one (taken off its path: wait for it)
    ask(client, "thanks", extra_headers={"x-router-feedback": f"{request_id}=0"})
    deadline = time.monotonic() + 10
    while True:
        explained = admin.get("/routing/explain", params={"model": "auto:smart", "prompt": COMPLEX}).json()
        below = {e["channel"]: e["reason"] for e in explained["excluded"] if e["filter"] == "floor"}
        if "free-qwen3-30b" in below or time.monotonic() > deadline:
            break
    assert below["free-qwen3-30b"] == "quality 0.54 is below the complex floor 0.55"
    # 0.536 < 0.55: the free Qwen3 is out of the complex floor for this kind, and the next
    # cheapest above it serves
    assert ask(client, COMPLEX).headers["x-router-channel"] == "paid-gpt-4o-mini"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"request_id": "nope", "score": 1}, 404, "no served request"),
        ({"request_id": "x", "score": 2}, 400, "score"),
        ({"score": 1}, 422, "request_id"),
    ],
)
def test_feedback_that_cannot_count_says_why(admin: httpx.Client, body: dict, status: int, says: str) -> None:
    answer = admin.post("/routing/feedback", json=body)
    assert answer.status_code == status and says in answer.text
