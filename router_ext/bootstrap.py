"""The one runtime of this proxy process, built from the proxy's config when LiteLLM loads our
callback, and wired to the proxy: our routes mounted on its app, our shutdown in its shutdown.

LiteLLM's proxy globals are read through router_ext/litellm_seam/proxy_globals.py; the runtime
gets the Router through a callable.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from router_ext import IMPORT_STARTED
from router_ext.catalogue.reload import source_config_path
from router_ext.errors import is_ours
from router_ext.launch_config import RENDERED_ENV, SECTIONS_ENV
from router_ext.litellm_seam.features import check_features
from router_ext.litellm_seam.messages_bridge import bridge_messages_through_chat
from router_ext.litellm_seam.proxy_globals import config_file_path, llm_router, shut_down_with_the_proxy
from router_ext.runtime.rules import check_rules
from router_ext.runtime.runtime import RouterRuntime
from router_ext.settings import RouterSettings, settings_of
from router_ext.state.shared_state import redis_url_from
from router_ext.yaml_io import load_yaml

log = logging.getLogger("smart_router")
_runtime: RouterRuntime | None = None


def current_runtime() -> RouterRuntime:
    """The process's runtime, built on first use from the proxy's config."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime()
    return _runtime


def build_runtime() -> RouterRuntime:
    imported = time.perf_counter()
    path = config_file_path()
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
    features = check_features()  # one line per feature that is off, before anything uses one
    if features.on("messages_via_chat"):
        bridge_messages_through_chat()
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
    if features.on("shutdown_hook"):
        shut_down_with_the_proxy(runtime.shutdown)
    log.info(
        "smart-router: ready in %.0f ms (import %.0f ms, config and routes %.0f ms)",
        (time.perf_counter() - IMPORT_STARTED) * 1000,
        (imported - IMPORT_STARTED) * 1000,
        (time.perf_counter() - imported) * 1000,
    )
    return runtime


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
