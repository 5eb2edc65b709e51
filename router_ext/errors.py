"""Errors our code sends to clients, in the OpenAI error shape LiteLLM's handler renders:
`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`."""

from __future__ import annotations

from litellm.proxy._types import ProxyException


def router_error(
    status: int, kind: str, message: str, *, param: str | None = None, router_status: str | None = None
) -> ProxyException:
    headers = {"x-router-status": router_status} if router_status else None
    return ProxyException(message=message, type=kind, param=param, code=status, headers=headers)
