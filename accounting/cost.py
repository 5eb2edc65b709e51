"""The cost of one request, in USD.

LiteLLM's `response_cost` is used when it knows the model. It prices an unknown model at 0
without a word, so when our price table says the channel is priced and LiteLLM says 0, ours
wins: a priced model never silently costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.channel import Channel


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    counted: bool = False  # True when we counted with tiktoken because the upstream sent none


def price_cost(channel: Channel | None, usage: Usage) -> float | None:
    if channel is None or (channel.input_cost_per_token is None and channel.output_cost_per_token is None):
        return None
    return (channel.input_cost_per_token or 0.0) * usage.prompt_tokens + (
        channel.output_cost_per_token or 0.0
    ) * usage.completion_tokens


def request_cost(channel: Channel | None, usage: Usage, litellm_cost: float | None) -> float:
    ours = price_cost(channel, usage)
    if ours is not None and ours > 0 and not litellm_cost:
        return ours
    if ours is not None and channel is not None and channel.price_verified:
        return ours  # configured / scraped prices are per channel: they beat a generic map
    if litellm_cost:
        return float(litellm_cost)
    return ours or 0.0


def cached_cost(channel: Channel, prompt_tokens: int, output_tokens: int, cached_tokens: int) -> float | None:
    """The estimated cost with `cached_tokens` of the prompt read from the provider's prompt cache
    (at `cache_read_cost_per_token`, when known: Anthropic, OpenAI, DeepSeek ...)."""
    full = price_cost(channel, Usage(prompt_tokens, output_tokens))
    if full is None or not cached_tokens or channel.cache_read_cost_per_token is None:
        return full
    cached = min(cached_tokens, prompt_tokens)
    return full - cached * ((channel.input_cost_per_token or 0.0) - channel.cache_read_cost_per_token)
