"""The one runtime of this proxy process, built from the proxy's config when LiteLLM loads our
callback, and wired to the proxy: our routes mounted on its app, our shutdown in its shutdown.

This and the adapters (hook.py, client_auth.py) are the only places that read LiteLLM's proxy
globals; the runtime gets the Router through a callable.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from router_ext import IMPORT_STARTED
from router_ext.catalogue.reload import source_config_path
from router_ext.errors import is_ours
from router_ext.launch_config import RENDERED_ENV, SECTIONS_ENV
from router_ext.runtime.rules import check_rules
from router_ext.runtime.runtime import RouterRuntime
from router_ext.settings import RouterSettings, settings_of
from router_ext.state.shared_state import redis_url_from
from router_ext.yaml_io import load_yaml

log = logging.getLogger("smart_router")
_runtime: RouterRuntime | None = None


def llm_router() -> Any:
    """LiteLLM's Router, once the proxy has built it (None while callbacks load)."""
    from litellm.proxy import proxy_server

    return proxy_server.llm_router


def config_path() -> str | None:
    from litellm.proxy import proxy_server

    return getattr(proxy_server, "user_config_file_path", None) or os.environ.get("CONFIG_FILE_PATH")


def current_runtime() -> RouterRuntime:
    """The process's runtime, built on first use from the proxy's config."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime()
    return _runtime


def build_runtime() -> RouterRuntime:
    imported = time.perf_counter()
    path = config_path()
    document: dict[str, Any] = {}
    settings = RouterSettings()
    if path and path == os.environ.get(RENDERED_ENV) and os.environ.get(SECTIONS_ENV):
        # `smart-router serve` parsed it already and left us the sections we read
        with open(os.environ[SECTIONS_ENV], encoding="utf-8") as handle:
            document = json.load(handle)
        settings = settings_of(document, path)
    elif path:
        with open(path, encoding="utf-8") as handle:
            document = load_yaml(handle) or {}
        settings = settings_of(document, path)
        check_rules(document, settings)  # `serve` checked them already
    _bridge_messages_through_chat()
    _log_our_rejections_once()
    runtime = RouterRuntime(
        settings,
        redis_url_from(document, settings.redis_url, dict(os.environ)),
        router=llm_router,
        config_path=source_config_path,
        database_url=os.environ.get("ROUTER_DATABASE_URL") or None,
    )
    from router_ext.admin.mount import mount_routes

    mount_routes(runtime)
    _shut_down_with_the_proxy(runtime.shutdown)
    log.info(
        "smart-router: ready in %.0f ms (import %.0f ms, config and routes %.0f ms)",
        (time.perf_counter() - IMPORT_STARTED) * 1000,
        (imported - IMPORT_STARTED) * 1000,
        (time.perf_counter() - imported) * 1000,
    )
    return runtime


def _bridge_messages_through_chat() -> None:
    """Anthropic Messages sent to an OpenAI-style channel: LiteLLM 1.108 turns them into a
    Responses call, which most OpenAI-compatible upstreams do not serve; chat completions every
    one does. Channels with a native Messages API (Anthropic, or `model_info.supported_endpoints:
    ["/v1/messages"]`) are still called natively: LiteLLM checks that first. The environment
    variable, when set, keeps the choice."""
    import litellm

    if "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES" not in os.environ:
        litellm.use_chat_completions_url_for_anthropic_messages = True


class _OurRejections(logging.Filter):
    """A request we refused (no channel, unknown tag, budget) is an expected answer with our own
    request log line: not a second line, with a traceback, from LiteLLM's exception handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        raised = record.exc_info[1] if record.exc_info else None
        return not (is_ours(raised) or any(is_ours(a) for a in args))


def _log_our_rejections_once() -> None:
    for name in ("LiteLLM Proxy", "LiteLLM"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OurRejections) for f in logger.filters):
            # First: LiteLLM's own filter formats the message and drops the arguments we look at.
            logger.filters.insert(0, _OurRejections())


def _shut_down_with_the_proxy(shutdown: Callable[[], Awaitable[None]]) -> None:
    """LiteLLM's lifespan ends by awaiting `proxy_server.proxy_shutdown_event` (looked up by
    name then), and callbacks get no shutdown hook of their own: ours runs first, then LiteLLM's."""
    from litellm.proxy import proxy_server

    original = proxy_server.proxy_shutdown_event
    if getattr(original, "smart_router", False):
        return

    async def shutdown_event(*args: Any, **kwargs: Any) -> None:
        try:
            await shutdown()
        except Exception:  # LiteLLM's own shutdown must still run
            log.exception("smart-router: shutdown failed")
        await original(*args, **kwargs)

    shutdown_event.smart_router = True  # type: ignore[attr-defined]
    proxy_server.proxy_shutdown_event = shutdown_event
