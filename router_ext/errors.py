"""Errors our code sends to clients, in the OpenAI error shape LiteLLM's handler renders:
`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`."""

from __future__ import annotations

from litellm.proxy._types import ProxyException


def router_error(
    status: int, kind: str, message: str, *, param: str | None = None, router_status: str | None = None
) -> ProxyException:
    headers = {"x-router-status": router_status} if router_status else None
    error = ProxyException(message=message, type=kind, param=param, code=status, headers=headers)
    error.smart_router = True  # type: ignore[attr-defined]  # ours: logged once, as our request line
    return error


def is_ours(value: object) -> bool:
    """One of our refusals, or LiteLLM's copy of one (it copies a ProxyException to add its call
    id, headers included)."""
    if getattr(value, "smart_router", False):
        return True
    headers = getattr(value, "headers", None)
    return isinstance(value, ProxyException) and isinstance(headers, dict) and "x-router-status" in headers
