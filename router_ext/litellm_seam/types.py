"""The proxy's exception and auth types, as LiteLLM's custom-auth and hook docs use them.

Relies on `litellm.proxy._types` (ProxyException, UserAPIKeyAuth, LitellmUserRoles) and
`RouteChecks.is_llm_api_route`; checked on 1.108.7 and 1.110.2.
"""

from __future__ import annotations

from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth

__all__ = ["LitellmUserRoles", "ProxyException", "UserAPIKeyAuth", "is_llm_api_route"]


def is_llm_api_route(route: str) -> bool:
    """Whether LiteLLM counts `route` as an LLM API route (what a client key may call)."""
    from litellm.proxy.auth.route_checks import RouteChecks

    return bool(RouteChecks.is_llm_api_route(route=route))
