"""The client's request as LiteLLM's proxy hands it to hooks: `data["proxy_server_request"]`
(`{"url", "method", "headers", "body"}`), set by the proxy before the pre-call hooks. Not a
documented shape; checked on 1.108.7 and 1.110.2 (every routing test reads a header through it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _headers(data: Mapping[str, Any]) -> Mapping[str, Any]:
    request = data.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def request_header(data: Mapping[str, Any], name: str) -> str | None:
    """One header the client sent (`name` lower-case), or None when absent or empty."""
    for key, value in _headers(data).items():
        if str(key).lower() == name and value:
            return str(value)
    return None


def request_headers(data: Mapping[str, Any]) -> dict[str, str]:
    """Every header the client sent, names lower-cased."""
    return {str(k).lower(): str(v) for k, v in _headers(data).items()}
