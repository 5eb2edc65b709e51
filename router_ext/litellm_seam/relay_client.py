"""The relay's upstream client over LiteLLM's own pass-through HTTP client (its pool, TLS and proxy
settings). Relies on `get_async_httpx_client` and `httpxSpecialProvider.PassThroughEndpoint`;
checked on 1.108.7 and 1.110.2."""

from __future__ import annotations

from router_ext.relay_first_frame import FirstFrameRelayClient


def relay_client() -> FirstFrameRelayClient:
    from litellm.llms.custom_httpx.http_handler import get_async_httpx_client
    from litellm.types.llms.custom_http import httpxSpecialProvider

    return FirstFrameRelayClient(
        get_async_httpx_client(llm_provider=httpxSpecialProvider.PassThroughEndpoint).client
    )
