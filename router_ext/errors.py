"""Errors our code sends to clients, in the OpenAI error shape LiteLLM's handler renders:
`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`."""

from __future__ import annotations

from fastapi import HTTPException

from router_ext.litellm_seam.types import ProxyException


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


TRACEBACK_MARK = "Traceback (most recent call last)"


def without_traceback(error: BaseException) -> HTTPException | None:
    """The client's copy of an error whose message carries a Python traceback (LiteLLM appends
    one to an exception it could not map): the message up to it, same status and type. None when
    there is no traceback to cut."""
    message = str(getattr(error, "message", None) or error)
    cut = message.find(TRACEBACK_MARK)
    if cut < 0:
        return None
    status = getattr(error, "status_code", None) or getattr(error, "code", None) or 500
    try:
        code = int(status)
    except (TypeError, ValueError):
        code = 500
    detail = {
        "message": message[:cut].rstrip() or "the call failed",
        "type": str(getattr(error, "type", None) or "internal_server_error"),
    }
    return HTTPException(status_code=code if 400 <= code < 600 else 500, detail=detail)
