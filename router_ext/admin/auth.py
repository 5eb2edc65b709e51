"""Admin credential for `/routing/*`: the LiteLLM master key, compared in constant time.

Answers 401 JSON to a missing or wrong key. (LiteLLM's own routes answer 500 or 400 here when
the proxy runs without its database; ours must not.)
"""

from __future__ import annotations

import hmac

from fastapi import Request

from router_ext.errors import router_error


def _presented_key(request: Request) -> str:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.headers.get("x-api-key", "").strip()


async def require_admin(request: Request) -> None:
    from router_ext.litellm_seam.proxy_globals import master_key as proxy_master_key

    master_key = proxy_master_key()
    presented = _presented_key(request)
    if not presented:
        raise router_error(
            401, "unauthorized", "missing admin key: send 'Authorization: Bearer <LITELLM_MASTER_KEY>'"
        )
    if not master_key or not hmac.compare_digest(presented.encode(), str(master_key).encode()):
        raise router_error(401, "unauthorized", "wrong admin key: use the proxy's LITELLM_MASTER_KEY")


async def require_some_key(request: Request) -> None:
    """401 for a request with no key at all, before LiteLLM's auth (which answers 500 then)."""
    if not _presented_key(request) and not request.headers.get("x-litellm-api-key"):
        raise router_error(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
