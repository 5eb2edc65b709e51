"""A race around the Router's Messages and Responses calls (the feature `hedged_races`).

The proxy awaits the Router's call before it runs any hook of ours, and for these endpoints the
call returns when the upstream's headers arrive: a race started later (in the response-headers
hook) never hedged an upstream that is late before its headers. So the Router's own methods are
wrapped on its instance, and a hedged stream's call is raced from its start.

Relies on the proxy calling `getattr(llm_router, route_type)(**data)` (route_request; route types
`anthropic_messages` and `aresponses`) and on the Router keeping these methods as instance
attributes that may be replaced. Checked on 1.108.7 and 1.110.2.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from router_ext.litellm_seam.proxy_globals import llm_router

RACED_METHODS = ("anthropic_messages", "aanthropic_messages", "aresponses")
# (the Router's own method, the call's kwargs) -> the race's awaitable, or None: not raced
Race = Callable[[Callable[..., Awaitable[Any]], dict[str, Any]], Awaitable[Any] | None]


def race_streams_in_router_calls(race: Race) -> None:
    """Wrap the current Router's methods where they are not wrapped yet: checked per request, as
    LiteLLM may build a new Router, and 1.110's rebuilds its methods when its registry changes.
    With the feature off nothing is wrapped and these streams are not raced (chat still hedges
    through LiteLLM's own race)."""
    from router_ext.litellm_seam.features import feature_on

    router = llm_router()
    if router is None or not feature_on("hedged_races"):
        return
    for name in RACED_METHODS:
        original = getattr(router, name, None)
        if original is None or getattr(original, "smart_router_race", False):
            continue

        async def raced(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            racing = None if args else race(_original, kwargs)
            return await (racing if racing is not None else _original(*args, **kwargs))

        raced.smart_router_race = True  # type: ignore[attr-defined]
        setattr(router, name, raced)
