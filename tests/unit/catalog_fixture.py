"""A fixed catalogue with one channel that stands out on each signal."""

from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.tags import merge_tags


def channel(id: str, upstream: str, **facts: object) -> Channel:
    extra = facts.pop("tags", ())
    return Channel(
        id=id,
        model_name=id,
        upstream_model=upstream,
        provider=upstream.split("/", 1)[0],
        channel=id.split("-", 1)[0],
        tags=merge_tags([id, upstream], extra),  # type: ignore[arg-type]
        **facts,  # type: ignore[arg-type]
    )


CATALOG = [
    # free: verified price 0, middling model
    channel(
        "free-qwen",
        "openrouter/qwen/qwen3-30b-a3b:free",
        params_b=30.0,
        context_tokens=40_960,
        input_cost_per_token=0.0,
        output_cost_per_token=0.0,
        price_verified=True,
    ),
    # a name that says free but has no price: NOT free
    channel("fake-free", "openrouter/mistral/mistral-7b:free", params_b=7.0, context_tokens=32_768),
    # local: on this machine, no price
    channel("local-llama", "ollama/llama3.1:8b", params_b=8.0, context_tokens=8_192, local=True),
    # cheap: lowest price among paid
    channel(
        "cheap-gemma",
        "openai/gemma-3-4b",
        params_b=4.0,
        context_tokens=32_768,
        input_cost_per_token=1e-8,
        output_cost_per_token=2e-8,
        price_verified=True,
    ),
    # large: highest quality, expensive
    channel(
        "large-qwen",
        "openai/qwen3-235b-a22b",
        params_b=235.0,
        context_tokens=262_144,
        quality=0.95,
        input_cost_per_token=2e-6,
        output_cost_per_token=8e-6,
        price_verified=True,
        supports_function_calling=True,
        supports_vision=False,
    ),
    # fast: will be observed fast
    channel(
        "fast-llama",
        "groq/llama-3.1-70b",
        params_b=70.0,
        context_tokens=131_072,
        input_cost_per_token=6e-7,
        output_cost_per_token=8e-7,
        price_verified=True,
        supports_function_calling=False,
    ),
    # unreliable: will be observed failing
    channel(
        "flaky-qwen",
        "openai/qwen2.5-72b-instruct",
        params_b=72.0,
        context_tokens=131_072,
        input_cost_per_token=4e-7,
        output_cost_per_token=4e-7,
        price_verified=True,
    ),
]


def build_index() -> TagIndex:
    return TagIndex(CATALOG)
