"""LiteLLM `custom_auth` for a proxy without LiteLLM's database: the master key, or one of
our client keys (see client_keys.py).

Named in the config as `general_settings.custom_auth: router_ext.client_auth.user_api_key_auth`
(`smart-router serve` sets it unless the config names another one or LiteLLM's own database
is configured). Every refusal is a 401/403 in the OpenAI error shape with what to do about it;
LiteLLM alone answers 500 to a request without a key when it has no database.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request

from router_ext.bootstrap import current_runtime
from router_ext.client_keys import KEY_ID_FIELD
from router_ext.errors import router_error
from router_ext.litellm_seam.types import LitellmUserRoles, UserAPIKeyAuth, is_llm_api_route


def _bearer(value: str | None) -> str:
    text = (value or "").strip()
    return text[7:].strip() if text.lower().startswith("bearer ") else text


def _route_of(request: Request) -> str:
    return str(request.scope.get("path") or request.url.path)


def _is_llm_route(route: str) -> bool:
    return is_llm_api_route(route)


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    from router_ext.litellm_seam.proxy_globals import master_key as proxy_master_key

    presented = _bearer(api_key)
    master_key = proxy_master_key()
    if not master_key:
        # No master key: the proxy is open, as LiteLLM is without one (README: set a master key
        # before issuing client keys).
        return UserAPIKeyAuth(user_role=LitellmUserRoles.PROXY_ADMIN)
    if not presented:
        raise router_error(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
    if hmac.compare_digest(presented.encode(), str(master_key).encode()):
        return UserAPIKeyAuth(api_key=presented, user_role=LitellmUserRoles.PROXY_ADMIN)
    key = await current_runtime().find_client_key(presented)
    if key is None:
        raise router_error(
            401,
            "unauthorized",
            "unknown API key: use a key from 'smart-router keys create' (or POST /routing/keys)",
        )
    if not key.active:
        raise router_error(
            401,
            "unauthorized",
            f"API key {key.name!r} ({key.key_prefix}...) was revoked at {key.revoked_at.isoformat() if key.revoked_at else '?'}",
        )
    route = _route_of(request)
    if not _is_llm_route(route):
        raise router_error(
            403,
            "forbidden",
            f"client keys may call the OpenAI API routes only, not {route}; use the master key",
        )
    metadata: dict[str, Any] = {KEY_ID_FIELD: key.id}
    return UserAPIKeyAuth(
        api_key=key.key_hash,
        key_alias=key.name,
        key_name=key.key_prefix + "...",
        user_role=LitellmUserRoles.INTERNAL_USER,
        metadata=metadata,
    )
