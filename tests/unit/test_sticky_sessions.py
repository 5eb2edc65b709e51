"""Sticky sessions: a conversation stays where its prompt is cached while that is within the
cost margin, counting the cached part of the prompt at the provider's cache-read price."""

from __future__ import annotations

from accounting.cost import cached_cost
from catalog.channel import Channel
from router_ext.settings import StickySettings
from router_ext.state.sticky_sessions import StickySessions, sticky_session_of

CACHED = Channel(
    id="claude",
    model_name="c",
    upstream_model="anthropic/c",
    provider="anthropic",
    channel="anthropic",
    input_cost_per_token=3e-6,
    output_cost_per_token=15e-6,
    cache_read_cost_per_token=0.3e-6,
    price_verified=True,
)
CHEAPER = Channel(
    id="other",
    model_name="o",
    upstream_model="openai/o",
    provider="openai",
    channel="openai",
    input_cost_per_token=2e-6,
    output_cost_per_token=8e-6,
    price_verified=True,
)


def prefer(sessions: StickySessions, prompt: int) -> tuple[list[str], bool]:
    ranked, stayed = sessions.prefer(
        [CHEAPER, CACHED],
        "conv",
        "balanced",
        lambda c: c.id,
        lambda c, cached: cached_cost(c, prompt, 100, cached),
        0.0,
    )
    return [c.id for c in ranked], stayed


def test_the_cached_prompt_keeps_a_dearer_channel_cheaper_to_stay_on() -> None:
    sessions = StickySessions(StickySettings(cost_margin=0.25))
    sessions.served("conv", "claude", 0.0, prompt_tokens=10_000)
    # 10,500 tokens: at full price claude is ~50 % dearer, with 10,000 read from cache it is cheaper
    assert prefer(sessions, 10_500) == (["claude", "other"], True)
    sessions.prompt_tokens["conv"] = 0  # nothing cached: too dear to stay
    assert prefer(sessions, 10_500) == (["other", "claude"], False)


def test_a_failure_releases_and_the_session_key_comes_from_the_request() -> None:
    sessions = StickySessions(StickySettings())
    sessions.served("conv", "claude", 0.0, 10_000)
    sessions.release("conv", "claude")
    assert sessions.channel_of("conv") is None and prefer(sessions, 100)[1] is False
    assert sticky_session_of({"proxy_server_request": {"headers": {"X-Session-Id": "abc"}}}) == "s:abc"
    assert sticky_session_of({"user": "u1"}) == "u:u1"
    assert sticky_session_of({"metadata": {"user_id": '{"session_id":"x"}'}}) == 'a:{"session_id":"x"}'
    assert sticky_session_of({"prompt_cache_key": "k"}) == "c:k"
    assert sticky_session_of({"messages": []}) is None
