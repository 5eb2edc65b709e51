"""OpenRouter's own clients against smart-router, only their base URL changed: the Python
`openrouter` SDK, `@openrouter/sdk` and `@openrouter/ai-sdk-provider` (installed by `make agents`),
over simulated channels of several providers. Their routing fields narrow, never widen."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openrouter import OpenRouter
from openrouter import errors as or_errors

from scripts.stack import Proxy

HERE = Path(__file__).parent
AGENTS = HERE.parents[1] / ".agents"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


@pytest.fixture(scope="module")
def sdk(proxy: Proxy) -> OpenRouter:
    return OpenRouter(
        api_key=proxy.master_key, server_url=f"{proxy.base_url}/api/v1", http_referer="https://example.app"
    )


def chat(admin: httpx.Client, **body: Any) -> httpx.Response:
    return admin.post("/api/v1/chat/completions", json={"messages": HELLO, **body})


def test_the_python_sdk_sends_variants_fallbacks_and_provider_preferences(sdk: OpenRouter) -> None:
    free = sdk.chat.send(model="qwen/qwen3-30b-a3b:free", messages=HELLO)
    assert "[free] qwen/qwen3-30b-a3b:free" in free.choices[0].message.content
    assert free.usage is not None and free.usage.cost == 0
    assert free.id.startswith("gen-")
    paid = sdk.chat.send(
        model="no-such/model",
        models=["gpt-4o-mini", "auto:free"],
        provider={"sort": "price", "max_price": {"prompt": "1", "completion": "2"}, "ignore": ["free-cloud"]},
        messages=HELLO,
    )
    assert "[paid] gpt-4o-mini" in paid.choices[0].message.content
    assert paid.usage is not None  # gpt-4o-mini: 1.5e-7 USD per prompt token, 6e-7 per completion token
    assert paid.usage.cost == pytest.approx(
        paid.usage.prompt_tokens * 1.5e-7 + paid.usage.completion_tokens * 6e-7
    )
    streamed = sdk.chat.send(model="auto:free", messages=HELLO, stream=True)
    chunks = list(streamed)
    assert "says hello" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.usage.cost for c in chunks if c.usage] == [0.0]


def test_the_python_sdk_reads_models_key_and_generation(sdk: OpenRouter) -> None:
    listed = sdk.models.list().result
    ids = [m.id for m in listed.data]
    assert {"gpt-4o-mini", "qwen3-30b-free", "auto", "auto:smart"} <= set(ids)
    gpt = next(m for m in listed.data if m.id == "gpt-4o-mini")
    assert (gpt.pricing.prompt, gpt.pricing.completion) == ("0.00000015", "0.0000006")
    assert listed.total_count == len(ids)
    key = sdk.api_keys.get_current_key_metadata()
    assert key.data.label == "master key" and key.data.usage >= 0
    answer = sdk.chat.send(model="gpt-4o-mini", messages=HELLO)
    deadline = time.monotonic() + 15
    while True:  # the record is written a moment after the answer
        try:
            generation = sdk.generations.get_generation(id=answer.id)
            break
        except or_errors.OpenRouterError:
            assert time.monotonic() < deadline, "the generation never appeared"
            time.sleep(0.2)
    assert generation.data.id == answer.id
    assert generation.data.provider_name == "paid-cloud"
    assert generation.data.tokens_completion == 8
    assert generation.data.total_cost == pytest.approx(2 * 1.5e-7 + 8 * 6e-7)  # "hello there": 2 tokens


def node_clients(mode: str, proxy: Proxy) -> dict[str, dict[str, Any]]:
    if shutil.which("node") is None or not (AGENTS / "node_modules" / "@openrouter").is_dir():
        pytest.fail("OpenRouter's JS clients are missing: `make agents` installs them in .agents/")
    script = AGENTS / "openrouter_clients.mjs"  # next to node_modules, so its imports resolve
    shutil.copyfile(HERE / "openrouter_clients.mjs", script)
    done = subprocess.run(
        ["node", str(script), mode, f"{proxy.base_url}/api/v1", proxy.master_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r.pop("name"): r for r in results}


def test_the_openrouter_typescript_sdk(proxy: Proxy) -> None:
    results = node_clients("sdk", proxy)
    assert results["variant free"]["cost"] == 0, results
    assert "[free] qwen/qwen3-30b-a3b:free" in results["variant free"]["content"]
    assert "[paid] gpt-4o-mini" in results["models and provider"]["content"], results
    assert results["models and provider"]["cost"] == pytest.approx(2 * 1.5e-7 + 8 * 6e-7)
    assert "content" in results["floor"], results["floor"]  # tag:qwen:floor: the cheapest qwen
    assert results["only nobody"]["status"] == 404, results
    assert "provider.only" in results["only nobody"]["error"]
    assert "says hello" in results["stream"]["content"] and results["stream"]["cost"] == 0, results
    assert "auto:smart" in results["models"]["ids"] and results["models"]["price"] == "0.00000015"
    assert results["key"]["label"] == "master key", results


def test_the_ai_sdk_provider(proxy: Proxy) -> None:
    results = node_clients("aisdk", proxy)
    assert "error" not in results["generate"], results
    assert "[paid] qwen/qwen3-235b-a22b" in results["generate"]["content"]
    assert results["generate"]["meta"]["provider"] == "paid-cloud"
    assert results["generate"]["meta"]["usage"]["cost"] > 0
    assert "[free]" in results["stream"]["content"], results  # `order` ranks inside each model
    assert results["stream"]["meta"]["usage"]["cost"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": {"max_price": {"prompt": "cheap"}}}, "provider.max_price.prompt"),
        ({"provider": {"sort": "fastest"}}, "provider.sort"),
        ({"provider": {"ordr": ["x"]}}, "provider.ordr"),
        ({"provider": "openai"}, "provider"),
        ({"models": "gpt-4o-mini"}, "models"),
        ({"provider": {"allow_fallbacks": "no"}}, "provider.allow_fallbacks"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(admin: httpx.Client, body: dict[str, Any], field: str) -> None:
    answer = chat(admin, model="auto", **body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == 400 and error["message"].startswith(field)


def test_each_field_narrows_and_the_headers_say_how(admin: httpx.Client) -> None:
    priced = chat(
        admin, model="auto", provider={"max_price": {"prompt": 0.5, "completion": 1}, "sort": "price"}
    )
    assert priced.status_code == 200
    assert priced.headers["x-router-channel"] in {"free-qwen3-30b", "free-gemma-270m", "paid-gpt-4o-mini"}
    assert "sort=price->cost_first" in priced.headers["x-router-openrouter"]
    only_paid = chat(admin, model="auto", provider={"only": ["paid-cloud"], "sort": "price"})
    assert only_paid.headers["x-router-channel"] == "paid-gpt-4o-mini"
    ordered = chat(admin, model="auto:cheap", provider={"order": ["paid-cloud"], "allow_fallbacks": False})
    assert ordered.headers["x-router-channel"].startswith("paid-")
    assert "allow_fallbacks=False" in ordered.headers["x-router-openrouter"]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    required = chat(admin, model="auto", tools=tools, provider={"require_parameters": True})
    assert required.headers["x-router-channel"] == "paid-gpt-4o-mini"  # the one known to take tools
    unknown = chat(admin, model="auto:free", tools=tools, provider={"require_parameters": True})
    assert unknown.status_code == 404 and "require_parameters" in unknown.json()["error"]["message"]
    private = chat(admin, model="auto", provider={"data_collection": "deny"})
    assert private.headers["x-router-channel"] == "local-qwen2.5-7b"
    emptied = chat(admin, model="auto:free", provider={"max_price": {"prompt": 0}, "ignore": ["free-cloud"]})
    assert emptied.status_code == 404 and "provider.ignore" in emptied.json()["error"]["message"]


def test_a_tag_named_like_a_variant_is_a_tag(admin: httpx.Client) -> None:
    """`tag:free` is the tag `free` (so are `tag:thinking`, `tag:nitro`), not a model named `tag`
    with the `:free` variant; `tag:free:floor` is that tag, cheapest first."""
    free = {"free-qwen3-30b", "free-gemma-270m"}
    answer = chat(admin, model="tag:free")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-router-channel"] in free and "variants" not in answer.headers.get(
        "x-router-openrouter", ""
    )
    cheapest = chat(admin, model="tag:free:floor")
    assert cheapest.status_code == 200, cheapest.text
    assert cheapest.headers["x-router-channel"] in free
    assert "tag:free:floor" in cheapest.headers["x-router-openrouter"]
    explained = admin.get("/routing/explain", params={"model": "tag:free"})
    assert explained.status_code == 200, explained.text
    assert {c["channel"] for c in explained.json()["ranked"]} == free


def test_a_client_key_gets_nothing_more_through_openrouters_fields(proxy: Proxy, admin: httpx.Client) -> None:
    made = admin.post("/routing/keys", json={"name": "free-only", "models": ["auto:free"]})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    client = httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    allowed = client.post("/api/v1/chat/completions", json={"model": "auto:free", "messages": HELLO})
    assert allowed.status_code == 200 and allowed.headers["x-router-channel"].startswith("free-")
    for body in (
        {"model": "auto:free", "models": ["gpt-4o-mini"]},
        {"model": "gpt-4o-mini"},
        {"model": "openai/gpt-4o-mini"},
        {"model": "auto:free", "models": ["auto:best"], "provider": {"only": ["paid-cloud"]}},
    ):
        refused = client.post("/api/v1/chat/completions", json={"messages": HELLO, **body})
        assert refused.status_code in (403, 404), (body, refused.text)
        assert refused.json()["error"]["code"] == refused.status_code
    listed = client.get("/api/v1/models").json()["data"]
    assert [m["id"] for m in listed] == ["auto:free"]
    mine = client.get("/api/v1/key").json()["data"]
    assert mine["label"].startswith("sk-") and mine["label"].endswith("...")
    others = chat(admin, model="gpt-4o-mini").json()["id"]
    time.sleep(0.5)
    assert client.get("/api/v1/generation", params={"id": others}).status_code == 404


def test_a_forged_preferences_header_is_dropped(admin: httpx.Client) -> None:
    answer = admin.post(
        "/v1/chat/completions",
        headers={"x-smart-router-openrouter": json.dumps({"only": ["nobody"]})},
        json={"model": "auto:free", "messages": HELLO},
    )
    assert answer.status_code == 200 and "x-router-openrouter" not in answer.headers


def test_responses_and_messages_sent_to_the_openrouter_paths(proxy: Proxy) -> None:
    import anthropic
    import openai

    responses = openai.OpenAI(base_url=f"{proxy.base_url}/api/v1", api_key=proxy.master_key)
    answer = responses.responses.create(model="auto:free", input="hello there")
    assert "says hello" in answer.output_text
    messages = anthropic.Anthropic(base_url=f"{proxy.base_url}/api", api_key=proxy.master_key)
    reply = messages.messages.create(model="auto:free", max_tokens=32, messages=HELLO)  # type: ignore[arg-type]
    assert "says hello" in reply.content[0].text  # type: ignore[union-attr]


def test_the_app_names_are_kept_in_records_and_stats(admin: httpx.Client) -> None:
    """Python SDK: HTTP-Referer https://example.app; TS SDK: X-OpenRouter-Title sdk-app; AI SDK
    provider: aisdk-app (earlier tests of this module sent them)."""
    apps: dict[str, int] = {}
    deadline = time.monotonic() + 15
    while not {"example.app", "sdk-app", "aisdk-app"} <= set(apps):
        assert time.monotonic() < deadline, apps
        stats = admin.get("/routing/stats", params={"period": "day"}).json()
        apps = {row["app"]: row["requests"] for row in stats["by_app"]}
        time.sleep(0.2)
    assert apps["example.app"] >= 3


def test_explain_shows_how_openrouters_fields_changed_the_ranking(admin: httpx.Client) -> None:
    explained = admin.get(
        "/routing/explain",
        params={"model": "auto", "provider": json.dumps({"only": ["paid-cloud"], "sort": "price"})},
    ).json()
    assert explained["openrouter"]["sort"] == "price->cost_first"
    assert {c["channel"] for c in explained["ranked"]} == {
        "paid-gpt-4o-mini",
        "paid-qwen3-235b",
        "paid-llama-70b",
    }
    out = {e["channel"] for e in explained["excluded"] if e["filter"] == "provider.only"}
    assert out == {"free-qwen3-30b", "free-gemma-270m", "local-qwen2.5-7b"}
    joined = admin.get("/routing/explain", params={"model": "gpt-4o-mini", "models": ["auto:free"]}).json()
    assert joined["ranked"][0]["channel"] == "paid-gpt-4o-mini"
    assert {"free-qwen3-30b", "free-gemma-270m"} <= {c["channel"] for c in joined["ranked"]}
    assert joined["openrouter"]["models"] == 2
    bad = admin.get("/routing/explain", params={"model": "auto", "provider": '{"sort": 3}'})
    assert bad.status_code == 400 and "provider.sort" in bad.text
