"""Request bodies that LiteLLM's auth would answer with a 500, refused with a 400 that says what to fix.

LiteLLM's auth reads the body before it checks the key. Two kinds of body make it fail:
- a JSON body that is not an object (`[1, 2]`, `null`, `"x"`) breaks its first `.get`;
- a body it refuses on purpose raises a ValueError. These are client-side endpoints or credentials,
  such as `api_base`, `base_url` or `model_list`, which would send a channel's key elsewhere.
Both failures then go through its exception handler. That handler imports Prisma, which is absent
without LiteLLM's database, so the client gets a 500 and a traceback is logged.

So LiteLLM's auth dependency is wrapped, on every route that uses it. The wrapper runs the same
checks first: the body must be an object, and it must pass LiteLLM's own `is_request_body_safe`. A
bad body is judged only after the key is checked on an empty body, so a caller without a valid key
still gets the 401 it would get anyway.

The wrapper replaces the dependency's callable in each route's dependency tree, once, at start-up
(same signature, so FastAPI's resolved parameters stay valid). FastAPI's `dependency_overrides`
would do it per request instead: with any override set, it rebuilds every sub-dependency of every
request from its signature (about 0.35 ms for LiteLLM's auth alone), which cost the normal path
3-4 % in `make bench`.

Covered: the routes present when we mount ours, ours included: chat completions (our route in
front when `fast_streams` is on) and `/v1/messages`. Not covered: the routes LiteLLM 1.108
registers lazily and dispatches from its `LazyFeatureMiddleware` (`/v1/responses`,
`/v1/embeddings`, `/v1/completions`, ...), which never pass through the app's router table we
can see at start-up; registering them eagerly (`LITELLM_DISABLE_LAZY_ROUTES`) costs 2 s a start.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from fastapi import Request

from router_ext.errors import router_error

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


async def body_refusal(request: Request) -> Exception | None:
    """Why LiteLLM's auth would fail on this request's body, as our 400, or None. The body is
    parsed by LiteLLM's own reader, which caches it for every later read."""
    if request.method not in BODY_METHODS:
        return None
    from litellm.proxy._types import ProxyException
    from litellm.proxy.auth.auth_utils import is_request_body_safe
    from litellm.proxy.common_utils.http_parsing_utils import _read_request_body
    from litellm.proxy.proxy_server import general_settings, llm_router

    try:
        body = await _read_request_body(request=request)
    except ProxyException:
        # Invalid JSON: LiteLLM's auth answers its own 400, after the key check. 1.110 refuses a
        # body that is JSON but not an object here too: ours says what it is, after the key check.
        body = await _parsed_json(request)
        if body is _NOT_JSON or isinstance(body, dict):
            return None
    if not isinstance(body, dict):
        return router_error(
            400,
            "invalid_request_error",
            f"the request body must be a JSON object ({{...}}), not {_kind(body)}",
            param="request_body",
        )
    try:
        is_request_body_safe(
            request_body=body,
            general_settings=general_settings,
            llm_router=llm_router,
            model=str(body.get("model") or ""),
            route=request.url.path,
        )
    except ValueError as refused:
        return router_error(400, "invalid_request_error", str(refused), param="request_body")
    return None


_NOT_JSON = object()
_JSON_START = {ord("["): [], ord('"'): "", ord("t"): True, ord("f"): False, ord("n"): None}


async def _parsed_json(request: Request) -> Any:
    """A stand-in of the JSON value the body holds, told by its first byte (Starlette keeps the
    bytes once read); not parsed: LiteLLM refused it already, and it may be huge or deeply nested."""
    head = (await request.body()).lstrip()[:1]
    if not head:
        return _NOT_JSON
    if head[0] in _JSON_START:
        return _JSON_START[head[0]]
    return 0 if head in b"-0123456789" else _NOT_JSON


def guarded_auth(auth: Any) -> Any:
    """LiteLLM's auth dependency, after our body checks (same signature, so FastAPI hands it the
    same headers)."""

    @functools.wraps(auth)
    async def guarded(request: Request, *args: Any, **kwargs: Any) -> Any:
        refusal = await body_refusal(request)
        if refusal is None:
            return await auth(request, *args, **kwargs)
        from litellm.proxy.common_utils.http_parsing_utils import safe_set_request_parsed_body

        safe_set_request_parsed_body(request=request, parsed_body={})
        await auth(request, *args, **kwargs)  # a missing or wrong key is still a 401 first
        raise refusal

    guarded.__signature__ = inspect.signature(auth)  # type: ignore[attr-defined]
    return guarded


def wrap_routes(routes: Any, auth: Any, guarded: Any) -> int:
    """Replace `auth` by `guarded` in each route's dependency tree; how many were replaced."""
    wrapped = 0
    for route in routes:
        pending = list(getattr(getattr(route, "dependant", None), "dependencies", None) or ())
        while pending:
            dependency = pending.pop()
            if dependency.call is auth:
                dependency.call = guarded
                wrapped += 1
            pending.extend(dependency.dependencies)
    return wrapped


def install(app: Any) -> int:
    """Wrap LiteLLM's auth in the routes the app has now; how many dependencies were wrapped."""
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    return wrap_routes(app.router.routes, user_api_key_auth, guarded_auth(user_api_key_auth))
