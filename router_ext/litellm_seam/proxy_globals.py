"""The LiteLLM proxy's module globals we read or wrap (`litellm.proxy.proxy_server`).

None of these is documented API; each was checked on 1.108.7 and 1.110.2 (internals.py probes them
at start). `llm_router` is None while callback modules import: read it when needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger("smart_router")


def _proxy() -> Any:
    from litellm.proxy import proxy_server

    return proxy_server


def llm_router() -> Any:
    """LiteLLM's Router, once the proxy has built it (None while callbacks load)."""
    return getattr(_proxy(), "llm_router", None)


def master_key() -> str | None:
    key = getattr(_proxy(), "master_key", None)
    return str(key) if key else None


def general_settings() -> Mapping[str, Any]:
    return getattr(_proxy(), "general_settings", None) or {}


def client_side_credentials_allowed() -> bool:
    return bool(general_settings().get("allow_client_side_credentials"))


def config_file_path() -> str | None:
    """The config file the proxy was started with."""
    return getattr(_proxy(), "user_config_file_path", None) or os.environ.get("CONFIG_FILE_PATH")


def proxy_app() -> Any:
    """The proxy's FastAPI app."""
    return _proxy().app


def model_listing_handler() -> Any:
    """LiteLLM's `GET /v1/models` handler (same signature and auth as its route)."""
    return _proxy().model_list


def chat_completion_handler() -> Any:
    """LiteLLM's `POST /v1/chat/completions` handler."""
    return _proxy().chat_completion


def shut_down_with_the_proxy(shutdown: Callable[[], Awaitable[None]]) -> None:
    """LiteLLM's lifespan ends by awaiting `proxy_server.proxy_shutdown_event` (looked up by name
    then), and callbacks get no shutdown hook of their own: ours runs first, then LiteLLM's."""
    proxy = _proxy()
    original = getattr(proxy, "proxy_shutdown_event", None)
    if original is None or getattr(original, "smart_router", False):
        return

    async def shutdown_event(*args: Any, **kwargs: Any) -> None:
        try:
            await shutdown()
        except Exception:  # LiteLLM's own shutdown must still run
            log.exception("smart-router: shutdown failed")
        await original(*args, **kwargs)

    shutdown_event.smart_router = True  # type: ignore[attr-defined]
    proxy.proxy_shutdown_event = shutdown_event
