"""Every endpoint on the same routing, through the real proxy: the official `openai` SDK on the
Responses API and embeddings, the official `anthropic` SDK on Messages, against chat-only
channels (bridged through chat completions) and native ones."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from scripts.stack import Proxy, Simulator, openai_client, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent
PROVIDERS = {
    "providers": [
        {
            "name": "chatonly",
            "models": ["qwen/qwen3-8b", "glm-4.5-air", "qwen/qwen3-14b"],
            "api_key": "sk-sim-chat",
        },
        {
            "name": "native",
            "models": ["gpt-5-mini", "claude-haiku-4-5"],
            "api_key": "sk-sim-native",
            "native": ["responses", "messages"],
        },
        {
            "name": "embed",
            "models": [],
            "embedding_models": ["text-embedding-3-small"],
            "api_key": "sk-sim-embed",
        },
    ]
}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ISSUED: list[str] = []  # client keys issued by this module's tests (scanned for at the end)
ANTHROPIC_TOOL = {
    "name": "get_weather",
    "description": "the weather in a city",
    "input_schema": WEATHER_TOOL["parameters"],
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    running = start_proxy(render_config(HERE / "endpoints_config.yaml", simulator.ports))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(proxy: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}
    ) as client:
        yield client


def claude(proxy: Proxy, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=proxy.base_url, api_key=key or proxy.master_key, max_retries=0, timeout=30
    )


def upstream_calls(simulator: Simulator, provider: str) -> dict[str, int]:
    return dict(httpx.get(f"http://127.0.0.1:{simulator.ports[provider]}/_control").json()["requests"])


# -- Responses API ---------------------------------------------------------------------------------
def test_responses_on_a_chat_only_channel_are_bridged_through_chat(
    proxy: Proxy, simulator: Simulator
) -> None:
    raw = openai_client(proxy).responses.with_raw_response.create(model="tag:qwen3,8b", input="hi there")
    response = raw.parse()
    assert "[chatonly] qwen/qwen3-8b says hello" in response.output_text
    assert raw.headers["x-router-channel"] == "chat-qwen3-8b"
    assert raw.headers["x-router-strategy"] == "cost_first"
    assert response.usage is not None and response.usage.input_tokens > 0
    assert "POST /responses" not in upstream_calls(simulator, "chatonly")


def test_a_responses_stream_has_the_event_sequence_the_sdk_expects(proxy: Proxy) -> None:
    with openai_client(proxy).responses.stream(model="tag:qwen3,8b", input="stream please") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created"
    assert "response.output_text.delta" in kinds
    assert kinds[-1] == "response.completed"
    assert "says hello" in final.output_text


def test_a_responses_tool_call_through_the_bridge(proxy: Proxy) -> None:
    response = openai_client(proxy).responses.create(
        model="tag:qwen3,8b", input="what is the weather? [call:get_weather]", tools=[WEATHER_TOOL]
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["get_weather"]
    assert '"Paris"' in calls[0].arguments


def test_responses_on_a_native_channel_go_to_its_responses_api(proxy: Proxy, simulator: Simulator) -> None:
    raw = openai_client(proxy).responses.with_raw_response.create(model="tag:gpt-5-mini", input="hi")
    assert raw.headers["x-router-channel"] == "native-gpt-5-mini"
    assert "(responses)" in raw.parse().output_text
    assert float(raw.headers["x-router-cost-usd"]) > 0  # from the Responses API's usage
    assert upstream_calls(simulator, "native").get("POST /responses", 0) >= 1


def test_a_channel_that_has_no_responses_path_is_bridged_from_then_on_and_keeps_serving_chat(
    proxy: Proxy, admin: httpx.Client
) -> None:
    client = openai_client(proxy)
    # Its upstream answers 404 Not Found on /v1/responses, and this tag has no other channel to
    # fall back to: the first request fails, the next ones are bridged.
    with pytest.raises(openai.APIStatusError) as raised:
        client.responses.create(model="tag:qwen3,14b", input="one")
    assert raised.value.status_code == 503
    second = client.responses.with_raw_response.create(model="tag:qwen3,14b", input="two")
    assert second.headers["x-router-channel"] == "liar-qwen3-14b"
    assert "says hello" in second.parse().output_text
    chat = client.chat.completions.with_raw_response.create(
        model="tag:qwen3,14b", messages=[{"role": "user", "content": "chat still works"}]
    )
    assert chat.headers["x-router-channel"] == "liar-qwen3-14b"
    channels = {c["id"]: c for c in admin.get("/routing/channels").json()["channels"]}
    assert channels["liar-qwen3-14b"]["state"] == "closed"
    assert "has no responses endpoint upstream" in proxy.log()


def test_legacy_completions_route_like_chat(proxy: Proxy) -> None:
    raw = openai_client(proxy).completions.with_raw_response.create(
        model="tag:qwen3,8b", prompt="say hi", max_tokens=8
    )
    assert raw.headers["x-router-channel"] == "chat-qwen3-8b"
    assert "says hello" in raw.parse().choices[0].text


# -- embeddings ------------------------------------------------------------------------------------
def test_embeddings_go_to_embedding_models_only(proxy: Proxy) -> None:
    raw = openai_client(proxy).embeddings.with_raw_response.create(
        model="auto", input=["one text", "another"]
    )
    assert raw.headers["x-router-channel"] == "embed-small"
    assert len(raw.parse().data) == 2


def test_an_embedding_model_is_never_a_chat_candidate(admin: httpx.Client, proxy: Proxy) -> None:
    explain = admin.get("/routing/explain", params={"model": "auto:best"}).json()
    assert "embed-small" not in [c["channel"] for c in explain["ranked"]]
    assert any(e["channel"] == "embed-small" and e["filter"] == "mode" for e in explain["excluded"])
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="auto:best", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-router-channel"] != "embed-small"
    embeddings = admin.get("/routing/explain", params={"model": "auto", "endpoint": "embeddings"}).json()
    assert [c["channel"] for c in embeddings["ranked"]] == ["embed-small"]
    bad = admin.get("/routing/explain", params={"model": "auto", "endpoint": "fax"})
    assert bad.status_code == 400 and "endpoint must be one of" in bad.json()["error"]["message"]


def test_a_chat_model_asked_for_embeddings_is_a_clear_400(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(proxy).embeddings.create(model="tag:glm", input="x")
    assert "serves this endpoint" in raised.value.response.json()["error"]["message"]


# -- Anthropic Messages ----------------------------------------------------------------------------
def test_messages_on_a_chat_only_channel(proxy: Proxy, simulator: Simulator) -> None:
    raw = claude(proxy).messages.with_raw_response.create(
        model="tag:qwen3,8b", max_tokens=64, system="be brief", messages=[{"role": "user", "content": "hi"}]
    )
    message = raw.parse()
    assert message.content[0].type == "text"
    assert "[chatonly] qwen/qwen3-8b says hello" in message.content[0].text
    assert raw.headers["x-router-channel"] == "chat-qwen3-8b"
    assert message.usage.input_tokens > 0
    assert "POST /messages" not in upstream_calls(simulator, "chatonly")


def test_a_messages_stream_and_tool_use_through_the_bridge(proxy: Proxy) -> None:
    with claude(proxy).messages.stream(
        model="tag:qwen3,8b", max_tokens=64, messages=[{"role": "user", "content": "stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert "says hello" in text
    message = claude(proxy).messages.create(
        model="tag:qwen3,8b",
        max_tokens=64,
        tools=[ANTHROPIC_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "weather? [call:get_weather]"}],
    )
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [block.name for block in uses] == ["get_weather"]
    assert message.stop_reason == "tool_use"


def test_messages_on_an_anthropic_channel_are_native(proxy: Proxy, simulator: Simulator) -> None:
    raw = claude(proxy).messages.with_raw_response.create(
        model="tag:claude,haiku", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-router-channel"] == "native-claude-haiku"
    assert "(messages)" in raw.parse().content[0].text


def test_count_tokens_answers_for_a_virtual_name(proxy: Proxy) -> None:
    counted = claude(proxy).messages.count_tokens(
        model="tag:qwen3,8b", messages=[{"role": "user", "content": "count these few words please"}]
    )
    assert counted.input_tokens > 0


def test_count_tokens_answers_for_a_chat_only_channels_own_name(proxy: Proxy, simulator: Simulator) -> None:
    """LiteLLM asks an `openai/` upstream's /responses/input_tokens, which a chat-only upstream
    lacks: its 404 reached the client. Now the local estimate answers."""
    before = upstream_calls(simulator, "chatonly").get("POST /responses/input_tokens", 0)
    for name in ("qwen3-8b-free", "glm-4.5-air"):
        counted = claude(proxy).messages.count_tokens(
            model=name, messages=[{"role": "user", "content": "count these few words please"}]
        )
        assert counted.input_tokens > 0
    assert upstream_calls(simulator, "chatonly").get("POST /responses/input_tokens", 0) - before <= 2


def test_messages_errors_are_in_anthropics_shape_with_our_headers(proxy: Proxy) -> None:
    with pytest.raises(anthropic.NotFoundError) as raised:
        claude(proxy).messages.create(
            model="tag:nothing-has-this", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    body: Any = raised.value.body
    assert body["type"] == "error" and body["error"]["type"]
    assert "nothing-has-this" in body["error"]["message"]
    assert raised.value.response.headers["x-router-status"] == "tag-not-found"


def test_every_channel_failing_on_messages_is_a_503_in_anthropics_shape_with_our_headers(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    failing = {"status": 500, "body": {"error": {"message": "upstream on fire", "type": "server_error"}}}
    control = f"http://127.0.0.1:{simulator.ports['chatonly']}/_control"
    httpx.post(control, json={"steps": [{**failing, "model": "glm-4.5-air", "times": 5}]})
    try:
        with pytest.raises(anthropic.APIStatusError) as raised:
            claude(proxy).messages.create(
                model="tag:glm", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        assert raised.value.status_code == 503
        body: Any = raised.value.body
        assert body["type"] == "error"
        assert "chat-glm-air" in body["error"]["message"]
        assert raised.value.response.headers["x-router-status"] == "all-channels-failed"
        assert raised.value.response.headers["x-router-attempts"] == "1"
    finally:
        httpx.post(control, json={"reset": True})
        admin.post("/routing/channels/chat-glm-air/reset")


# -- the same bookkeeping everywhere ---------------------------------------------------------------
def test_records_and_stats_know_the_endpoint(proxy: Proxy, admin: httpx.Client) -> None:
    proxy.wait_store()
    openai_client(proxy).chat.completions.create(
        model="tag:qwen3,8b", messages=[{"role": "user", "content": "hi"}]
    )
    endpoints: set[str] = set()
    deadline = time.monotonic() + 15  # the writer flushes every 0.5 s
    while time.monotonic() < deadline:
        records = admin.get("/routing/records", params={"limit": 200}).json()["records"]
        endpoints = {r["endpoint"] for r in records}
        if {"chat", "responses", "messages", "embeddings"} <= endpoints:
            break
        time.sleep(0.2)
    assert {"chat", "responses", "messages", "embeddings"} <= endpoints
    stats = admin.get("/routing/stats").json()
    assert {"chat", "responses", "messages", "embeddings"} <= {
        row["endpoint"] for row in stats["by_endpoint"]
    }


def test_a_client_keys_limits_hold_on_every_endpoint(proxy: Proxy, admin: httpx.Client) -> None:
    proxy.wait_store()
    created = admin.post("/routing/keys", json={"name": "free-only", "models": ["auto:free"]}).json()
    key = created["key"]
    ISSUED.append(key)
    client = openai_client(proxy, api_key=key)
    raw = client.responses.with_raw_response.create(model="auto:free", input="hi")
    assert raw.headers["x-router-channel"] == "chat-qwen3-8b"
    message = claude(proxy, key).messages.with_raw_response.create(
        model="auto:free", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.headers["x-router-channel"] == "chat-qwen3-8b"
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model="gpt-5-mini", input="not allowed")
    with pytest.raises(anthropic.PermissionDeniedError):
        claude(proxy, key).messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.APIStatusError) as raised:
        client.embeddings.create(model="auto:free", input="the embedding model is not free")
    assert raised.value.status_code in (400, 403)


def _fail_once(simulator: Simulator, model: str) -> None:
    step = {
        "model": model,
        "status": 500,
        "times": 1,
        "body": {"error": {"message": "boom", "type": "server_error"}},
    }
    httpx.post(f"http://127.0.0.1:{simulator.ports['chatonly']}/_control", json={"steps": [step]})


def test_the_model_field_is_the_requested_name_everywhere_after_failover_too(
    proxy: Proxy, simulator: Simulator, admin: httpx.Client
) -> None:
    """One choice (router_ext/public_model.py): the name the client asked for, while the
    headers name the channel. LiteLLM alone shows a deployment id or the upstream's model after
    a fallback, and the upstream's model inside Responses stream events."""
    client, name = openai_client(proxy), "tag:qwen3"  # cheapest: qwen3-8b, failing once each time
    chat = [{"role": "user", "content": "hi"}]
    seen: dict[str, set[str]] = {}

    def answer(kind: str, call: Any) -> None:
        _fail_once(simulator, "qwen/qwen3-8b")
        seen[kind] = set(call())
        admin.post("/routing/channels/chat-qwen3-8b/reset").raise_for_status()

    answer("chat", lambda: [client.chat.completions.create(model=name, messages=chat).model])
    answer(
        "chat stream",
        lambda: [c.model for c in client.chat.completions.create(model=name, messages=chat, stream=True)],
    )
    answer("responses", lambda: [client.responses.create(model=name, input="hi").model])

    def responses_stream() -> list[str]:
        with client.responses.stream(model=name, input="hi") as stream:
            models = [e.response.model for e in stream if getattr(e, "response", None) is not None]
            return [*models, stream.get_final_response().model]

    answer("responses stream", responses_stream)
    answer(
        "messages", lambda: [claude(proxy).messages.create(model=name, max_tokens=20, messages=chat).model]
    )

    def messages_stream() -> list[str]:
        with claude(proxy).messages.stream(model=name, max_tokens=20, messages=chat) as stream:
            return [stream.get_final_message().model]

    answer("messages stream", messages_stream)
    assert seen == {kind: {name} for kind in seen}
    served = client.chat.completions.with_raw_response.create(model="tag:qwen3,8b", messages=chat)
    assert served.parse().model == "tag:qwen3,8b"
    assert served.headers["x-router-model"] == "openai/qwen/qwen3-8b"
    calls = upstream_calls(simulator, "chatonly")
    assert calls["qwen/qwen3-14b"] >= 6  # each request above did fail over


def test_chat_still_serves_on_every_chat_channel_after_all_of_the_above(
    proxy: Proxy, admin: httpx.Client
) -> None:
    client = openai_client(proxy)
    for model in ("tag:qwen3,8b", "tag:glm", "tag:qwen3,14b"):
        assert client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        ).choices
    states = {c["id"]: c["state"] for c in admin.get("/routing/channels").json()["channels"]}
    assert {states[c] for c in ("chat-qwen3-8b", "chat-glm-air", "liar-qwen3-14b")} == {"closed"}


# -- the real coding agents (installed by `make agents` from the npm registry) --------------------
AGENTS = Path(__file__).resolve().parents[2] / ".agents" / "node_modules" / ".bin"


def agent(name: str) -> str:
    path = AGENTS / name
    assert path.exists(), (
        f"{path} is missing: `make agents` installs Claude Code and Codex CLI (make test does)"
    )
    return str(path)


def claude_code(proxy: Proxy, home: Path, prompt: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`claude -p PROMPT` against the proxy, offline, in a throwaway HOME."""
    done = subprocess.run(
        [agent("claude"), "-p", prompt],
        cwd=home,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": proxy.base_url,
            "ANTHROPIC_AUTH_TOKEN": proxy.master_key,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_claude_code_answers_through_a_tag_on_a_chat_only_channel(proxy: Proxy, tmp_path: Path) -> None:
    done = claude_code(
        proxy,
        tmp_path,
        "say hi from claude code",
        ANTHROPIC_MODEL="tag:qwen3,8b",
        ANTHROPIC_DEFAULT_HAIKU_MODEL="tag:glm",  # its background model
    )
    assert "[chatonly] qwen/qwen3-8b says hello" in done.stdout
    assert '"requested_model": "tag:qwen3,8b", "endpoint": "messages"' in proxy.log()


def test_claude_code_runs_a_tool_loop_through_the_bridge(proxy: Proxy, tmp_path: Path) -> None:
    """The model asks for Claude Code's own Read tool (over chat completions), Claude Code reads
    the file and sends the tool result back: two routed turns, one answer quoting the file."""
    notes = tmp_path / "notes.txt"
    notes.write_text("the-password-is-tangerine\n")
    done = claude_code(
        proxy,
        tmp_path,
        f"what do my notes say? [call:Read file_path={notes}]",
        ANTHROPIC_MODEL="tag:qwen3,8b",
        ANTHROPIC_DEFAULT_HAIKU_MODEL="tag:glm",
    )
    assert "tool said:" in done.stdout and "the-password-is-tangerine" in done.stdout


def test_codex_cli_answers_through_a_tag_on_a_chat_only_channel(proxy: Proxy, tmp_path: Path) -> None:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "tag:qwen3,8b"\n'
        'model_provider = "smartrouter"\n\n'
        "[model_providers.smartrouter]\n"
        'name = "smart-router"\n'
        f'base_url = "{proxy.base_url}/v1"\n'
        'env_key = "SMART_ROUTER_KEY"\n'
        'wire_api = "responses"\n',
        encoding="utf-8",
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "SMART_ROUTER_KEY": proxy.master_key,
    }
    done = subprocess.run(
        [agent("codex"), "exec", "--skip-git-repo-check", "say hi from codex"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "[chatonly] qwen/qwen3-8b says hello" in done.stdout
    assert '"requested_model": "tag:qwen3,8b", "endpoint": "responses"' in proxy.log()


# -- scenario rules (smart_router.rules in endpoints_config.yaml) ---------------------------------
def test_rules_send_an_agents_own_model_names_where_they_belong(proxy: Proxy, admin: httpx.Client) -> None:
    background = claude(proxy).messages.with_raw_response.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=16,
        messages=[{"role": "user", "content": "title this chat"}],
    )
    assert background.headers["x-router-rule"] == "background"
    assert background.headers["x-router-channel"] == "chat-glm-air"
    default = claude(proxy).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert (default.headers["x-router-rule"], default.headers["x-router-channel"]) == (
        "agent-default",
        "chat-qwen3-8b",
    )
    long = openai_client(proxy).chat.completions.with_raw_response.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "many words " * 25000}]
    )
    assert (long.headers["x-router-rule"], long.headers["x-router-channel"]) == (
        "long-context",
        "native-gpt-5-mini",
    )
    thinking = claude(proxy).messages.with_raw_response.create(
        model="claude-opus-4-7",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think hard"}],
    )
    assert thinking.headers["x-router-rule"] == "thinking"
    assert thinking.headers["x-router-strategy"] == "quality_optimized"
    assert float(thinking.headers["x-router-cost-usd"]) > 0  # from Anthropic's input / output tokens
    explain = admin.get(
        "/routing/explain", params={"model": "claude-3-5-haiku-20241022", "endpoint": "messages"}
    ).json()
    assert (explain["rule"], explain["routed_as"]) == ("background", "tag:glm")
    assert explain["ranked"][0]["channel"] == "chat-glm-air"


def test_claude_code_keeps_its_own_model_names_and_rules_route_them(proxy: Proxy, tmp_path: Path) -> None:
    done = claude_code(proxy, tmp_path, "hello with my own model name", ANTHROPIC_MODEL="claude-sonnet-4-6")
    # Claude Code asks for extended thinking: the `thinking` rule sends it to the reasoning channel,
    # which speaks Anthropic Messages natively.
    assert "[native] gpt-5-mini (messages) says hello" in done.stdout
    assert '"requested_model": "claude-sonnet-4-6", "endpoint": "messages", "rule": "thinking"' in proxy.log()


# -- last: nothing of the above left a secret behind ----------------------------------------------
def test_no_key_used_in_this_module_appears_in_the_log_or_any_admin_answer(
    proxy: Proxy, admin: httpx.Client
) -> None:
    secrets = {"sk-sim-chat", "sk-sim-native", "sk-sim-embed", proxy.master_key, *ISSUED}
    assert len(ISSUED) >= 1  # the client key issued above
    answers = [proxy.log()]
    for path in (
        "/routing/channels",
        "/routing/records?limit=1000",
        "/routing/stats",
        "/routing/keys",
        "/routing/strategy",
        "/routing/tags",
        "/routing/spend",
        "/routing/jobs",
        "/routing/discovery",
        "/routing/prices",
        "/routing/metrics",
        "/routing/explain?model=auto",
    ):
        response = admin.get(path)
        assert response.status_code == 200, path
        answers.append(response.text)
    found = {secret for secret in secrets for text in answers if secret in text}
    assert found == set()
