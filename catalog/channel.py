"""A channel: one concrete deployment (provider endpoint + key + upstream model)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Channel:
    id: str  # LiteLLM deployment id (model_info.id); what the Router is handed
    model_name: str  # the public model_name of the deployment
    upstream_model: str  # litellm_params.model, e.g. "openrouter/qwen/qwen3-30b-a3b:free"
    provider: str  # "openrouter", "openai", "ollama", ...
    channel: str  # channel name: model_info.channel, else the provider
    api_base: str | None = None
    # Kept as a sorted tuple: a frozenset of ~8 tags is ~700 bytes, the tuple ~120 (10,000 channels
    # would hold 6 MB of hash tables nobody probes: queries go through the index's postings).
    tags: Collection[str] = ()
    params_b: float | None = None  # parameter count, billions
    context_tokens: int | None = None  # context window, tokens
    local: bool = False
    input_cost_per_token: float | None = None  # USD; None = unknown
    output_cost_per_token: float | None = None
    cache_read_cost_per_token: float | None = (
        None  # USD per cached input token (prompt caching); None = no discount known
    )
    price_verified: bool = False  # the price came from config or a price source, not a guess
    quality: float | None = None  # 0..1 when configured
    reasoning: bool | None = None  # a thinking model (model_info.supports_reasoning); None = unknown
    order: int | None = None  # model_info.order / priority: lower is preferred
    supports_function_calling: bool | None = None
    supports_vision: bool | None = None
    supports_response_schema: bool | None = None  # structured output (response_format json_schema)
    keeps_no_data: bool = False  # model_info.zdr / data_collection: deny (a local channel keeps none either)
    key_fingerprint: str | None = None  # `fp-...` of the API key: never the key itself
    daily_request_quota: int | None = None  # model_info.daily_requests (a free tier's 50/day)
    daily_token_quota: int | None = None  # model_info.daily_tokens
    mode: str = "chat"  # model_info.mode as LiteLLM knows it: chat, embedding, completion, ...
    # Wire APIs the upstream speaks natively besides chat completions ("responses", "messages");
    # a request in another shape is bridged through chat completions.
    native_apis: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(sorted(self.tags)))

    @property
    def pool(self) -> tuple[str, str, str | None]:
        """Channels that differ only by key serve the same model: one pool for key rotation."""
        return (self.provider, self.upstream_model, self.api_base)

    @property
    def is_free(self) -> bool:
        """Free only when a verified price of 0 says so: a `:free` name is not proof."""
        return self.price_verified and self.input_cost_per_token == 0 and self.output_cost_per_token == 0
