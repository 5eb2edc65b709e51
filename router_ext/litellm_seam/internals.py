"""Every LiteLLM internal smart-router uses: where it is, which of our features needs it, how it
stood on the versions we ran, and LiteLLM's public alternative where one exists.

Each entry can check itself (`probe`): the module imports, the attribute path resolves, and a
callable takes the parameters we pass. features.py runs the probes once at start.

Status words: "same" (as on 1.108.7), "sig" (signature changed, what we pass still fits),
"behaviour" (same signature, different answer: see the note), "gone".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any

# A test (or an operator chasing a LiteLLM bug) may name internals to treat as missing.
HIDDEN_ENV = "SMART_ROUTER_HIDE_LITELLM_INTERNALS"

CORE = "core"  # smart-router cannot run without it: a clear error at start instead of a feature off


@dataclass(frozen=True)
class Internal:
    path: str  # "module:attribute.attribute"
    used_by: tuple[str, ...]  # features (features.py), or CORE
    v1_108_7: str = "same"
    v1_110_2: str = "same"
    alternative: str = ""  # LiteLLM's public way, where one exists
    params: tuple[str, ...] = ()  # parameters we pass by name
    probed: bool = True  # False: router_registry.py picks a path per Router shape, nothing to switch off
    source_has: str = ""  # a call the internal must still make (read from its source)
    # False: only that its module is there (importing it at start costs: the tokenizer, ~190 ms, ~30 MB)
    import_at_start: bool = True

    def resolve(self) -> Any:
        module_name, _, attributes = self.path.partition(":")
        found: Any = importlib.import_module(module_name)
        for attribute in attributes.split(".") if attributes else ():
            found = getattr(found, attribute)
        return found

    def probe(self, hidden: frozenset[str] = frozenset()) -> str | None:
        """None when the internal is there in the shape we use; else why not."""
        if not self.probed:
            return None
        if self.path in hidden:
            return f"{self.path} is hidden ({HIDDEN_ENV})"
        if not self.import_at_start:
            module_name = self.path.partition(":")[0]
            try:
                found_spec = importlib.util.find_spec(module_name)
            except (ImportError, ValueError) as error:
                return f"{self.path} is missing ({type(error).__name__}: {error})"
            return None if found_spec is not None else f"{self.path} is missing (no module {module_name})"
        try:
            found = self.resolve()
        except (ImportError, AttributeError) as error:
            return f"{self.path} is missing ({type(error).__name__}: {error})"
        except Exception as error:  # noqa: BLE001  # a LiteLLM module that fails to import: the feature is off
            return f"{self.path} failed to load ({type(error).__name__}: {error})"
        if self.source_has:
            try:
                source = inspect.getsource(getattr(found, "callback", None) or found)
            except (OSError, TypeError):
                return f"{self.path}: its source cannot be read to check it calls {self.source_has}"
            if self.source_has not in source:
                return f"{self.path} no longer calls {self.source_has}"
        if self.params:
            try:
                signature = inspect.signature(found)
            except (TypeError, ValueError):
                return None  # a builtin we cannot inspect: trust the import
            accepted = signature.parameters
            if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
                missing = [p for p in self.params if p not in accepted]
                if missing:
                    return f"{self.path} no longer takes {', '.join(missing)}"
        return None


_PROXY = "litellm.proxy.proxy_server"
# The proxy's settings the relay hands both steps of LiteLLM's request processing (chat_relay.py)
_PROXY_SETTINGS = (
    "general_settings",
    "proxy_config",
    "user_model",
    "user_temperature",
    "user_request_timeout",
    "user_max_tokens",
    "user_api_base",
    "version",
)
_PROCESSING = "litellm.proxy.common_request_processing"
_AUTH = "litellm.proxy.auth.user_api_key_auth:user_api_key_auth"
_PARSING = "litellm.proxy.common_utils.http_parsing_utils"

INTERNALS: tuple[Internal, ...] = (
    # -- the proxy's globals (proxy_globals.py)
    Internal(f"{_PROXY}:llm_router", (CORE,)),
    Internal(f"{_PROXY}:master_key", (CORE,)),
    Internal(f"{_PROXY}:general_settings", (CORE,)),
    Internal(f"{_PROXY}:user_config_file_path", (CORE,)),
    Internal(f"{_PROXY}:app", (CORE,)),
    Internal(f"{_PROXY}:proxy_shutdown_event", ("shutdown_hook",)),
    Internal(
        f"{_PROXY}:model_list", ("virtual_model_listing",), v1_110_2="sig (return_wildcard_routes=None)"
    ),
    Internal(f"{_PROXY}:chat_completion", ("relay",)),
    Internal(f"{_PROXY}:proxy_config", ("relay",)),
    Internal(f"{_PROXY}:user_model", ("relay",)),
    Internal(f"{_PROXY}:user_temperature", ("relay",)),
    Internal(f"{_PROXY}:user_request_timeout", ("relay",)),
    Internal(f"{_PROXY}:user_max_tokens", ("relay",)),
    Internal(f"{_PROXY}:user_api_base", ("relay",)),
    Internal(f"{_PROXY}:version", ("relay",)),
    Internal(f"{_PROXY}:proxy_logging_obj", ("relay",)),
    Internal(f"{_PROXY}:select_data_generator", ("relay",)),
    # -- types and auth (types.py, client_auth.py)
    Internal("litellm.proxy._types:ProxyException", (CORE,), params=("message", "type", "param", "code")),
    Internal("litellm.proxy._types:UserAPIKeyAuth", (CORE,)),
    Internal("litellm.proxy._types:LitellmUserRoles", (CORE,)),
    Internal("litellm.proxy.auth.route_checks:RouteChecks.is_llm_api_route", (CORE,), params=("route",)),
    Internal(_AUTH, ("relay", "body_guard", "virtual_model_listing", "messages_errors")),
    # -- the Router (router_registry.py): public on each version, but not the same on both
    Internal(
        "litellm:Router.model_list",
        (CORE,),
        v1_110_2="deprecated",
        alternative="router.registry().all() (1.110+), taken when present",
        probed=False,
    ),
    Internal(
        "litellm:Router.delete_deployment",
        (CORE,),
        v1_110_2="deprecated",
        alternative="router.apply(ChangeSet(delete=[...])) (1.110+), taken when present",
        probed=False,
    ),
    Internal(
        "litellm:Router.generate_model_id",
        (CORE,),
        v1_110_2="deprecated",
        alternative="litellm.router_api.deployment_id (1.110+), taken when present",
        probed=False,
    ),
    Internal(
        "litellm:Router.model_id_to_deployment_index_map",
        ("relay",),
        v1_110_2="gone",
        alternative="router.registry().deployment_dict(id) (1.110+), taken when present; "
        "a scan of the list otherwise",
        probed=False,
    ),
    # writing a field into a live deployment entry: O(1) on 1.108, the whole list re-sent on 1.110
    Internal(
        "litellm:Router.model_list[i].model_info[k] = v",
        (CORE,),
        v1_110_2="behaviour (55 ms a write at 1,000 deployments)",
        alternative="one whole-list write of edited copies: registry().all()[:] = copies (1.110+)",
        probed=False,
    ),
    Internal("litellm:use_chat_completions_url_for_anthropic_messages", ("messages_via_chat",)),
    Internal("litellm.litellm_core_utils.default_encoding:encoding", (CORE,), import_at_start=False),
    # -- the relay (chat_relay.py, relay_call.py, relay_client.py)
    Internal(
        "litellm.llms.vllm.passthrough.transformation:VLLMPassthroughConfig",
        ("relay",),
        v1_110_2="sig (validate_environment annotations)",
    ),
    Internal(
        "litellm.llms.vllm.passthrough.transformation:VLLMPassthroughConfig.handle_logging_collected_chunks",
        ("relay",),
        params=("all_chunks", "litellm_logging_obj", "model", "custom_llm_provider", "endpoint"),
    ),
    Internal(
        "litellm.llms.custom_httpx.http_handler:get_async_httpx_client", ("relay",), params=("llm_provider",)
    ),
    Internal("litellm.types.llms.custom_http:httpxSpecialProvider.PassThroughEndpoint", ("relay",)),
    Internal(
        "litellm.proxy.pass_through_endpoints.injected_stream_usage:without_injected_usage_frames", ("relay",)
    ),
    Internal(f"{_PARSING}:read_request_body", ("relay",), v1_110_2="behaviour (a non-object body is a 400)"),
    Internal(
        f"{_PROCESSING}:ProxyBaseLLMRequestProcessing.common_processing_pre_call_logic",
        ("relay",),
        v1_110_2="sig (optional logging_auth)",
        params=(
            "request",
            "user_api_key_dict",
            "proxy_logging_obj",
            "route_type",
            "model",
            "llm_router",
            *_PROXY_SETTINGS,
        ),
    ),
    Internal(
        f"{_PROCESSING}:ProxyBaseLLMRequestProcessing.base_process_llm_request",
        ("relay",),
        v1_110_2="sig (optional sse_framing)",
        params=(
            "request",
            "fastapi_response",
            "user_api_key_dict",
            "route_type",
            "proxy_logging_obj",
            "llm_router",
            "select_data_generator",
            "model",
            "skip_pre_call_logic",
            *_PROXY_SETTINGS,
        ),
    ),
    Internal(f"{_PROCESSING}:ProxyBaseLLMRequestProcessing", ("relay",), params=("data",)),
    Internal(f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._pre_call_with_fallbacks", ("relay",)),
    Internal(
        f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._handle_llm_api_exception",
        ("relay",),
        params=("e", "user_api_key_dict", "proxy_logging_obj", "version"),
    ),
    Internal(
        f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._stream_response_headers",
        ("relay",),
        params=("hidden_params", "user_api_key_dict", "logging_obj", "version", "callback_headers"),
    ),
    Internal(f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._merge_passthrough_streaming_headers", ("relay",)),
    Internal(f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._is_streaming_response", ("relay",)),
    Internal(f"{_PROCESSING}:ProxyBaseLLMRequestProcessing._passthrough_event_stream_media_type", ("relay",)),
    Internal(
        f"{_PROCESSING}:_UpstreamClosingStreamingResponse",
        ("relay",),
        params=("content", "status_code", "media_type", "headers"),
    ),
    Internal(f"{_PROCESSING}:get_hidden_params_dict", ("relay",)),
    Internal(f"{_PROCESSING}:ttft_keepalive_interval", ("relay",)),
    Internal("litellm.proxy.utils:ProxyLogging.callback_capabilities", ("relay",)),
    Internal(
        "litellm.proxy.utils:ProxyLogging.post_call_response_headers_hook",
        ("relay",),
        params=("data", "user_api_key_dict", "response", "request_headers"),
    ),
    Internal(
        "litellm.proxy.utils:ProxyLogging.update_request_status",
        ("relay",),
        params=("litellm_call_id", "status"),
    ),
    Internal("litellm.proxy.native_compaction:with_proxy_compaction_executor", ("relay",)),
    Internal(
        "litellm.proxy.route_llm_request:route_request",
        ("relay",),
        v1_110_2="sig (more route types)",
        params=("data", "route_type", "llm_router", "user_model", "user_api_key_dict"),
    ),
    # -- the body guard (body_guard.py)
    Internal(
        f"{_PARSING}:_read_request_body", ("body_guard",), v1_110_2="behaviour (a non-object body is a 400)"
    ),
    Internal(f"{_PARSING}:safe_set_request_parsed_body", ("body_guard",)),
    Internal(
        "litellm.proxy.auth.auth_utils:is_request_body_safe",
        ("body_guard",),
        params=("request_body", "general_settings", "llm_router", "model", "route"),
    ),
    # -- our /v1/messages failure shape (routes.py)
    Internal("litellm.proxy.anthropic_endpoints.endpoints:anthropic_response", ("messages_errors",)),
    # -- hedged Messages / Responses streams (router_calls.py)
    Internal(
        "litellm.proxy.route_llm_request:_route_request_single_attempt",
        ("hedged_races",),
        source_has='getattr(llm_router, f"{route_type}")(**data)',
    ),
    Internal("litellm:Router.aanthropic_messages", ("hedged_races",), probed=False),
    # -- several workers with a socket each (workers.py): the CLI calls uvicorn.run, looked up when called
    Internal("litellm.proxy.proxy_cli:run_server", (CORE,)),
    Internal("litellm.proxy.proxy_cli:run_server", ("worker_sockets",), source_has="uvicorn.run("),
)


def hidden_internals(environ: dict[str, str]) -> frozenset[str]:
    return frozenset(p.strip() for p in environ.get(HIDDEN_ENV, "").split(",") if p.strip())


def inventory_table() -> str:
    """The inventory as the Markdown table in docs/litellm-seam.md (a test keeps them equal)."""
    rows = [
        "| internal | used by | 1.108.7 | 1.110.2 | public alternative |",
        "|---|---|---|---|---|",
    ]
    for internal in INTERNALS:
        rows.append(
            f"| `{internal.path}` | {', '.join(internal.used_by)} | {internal.v1_108_7} | "
            f"{internal.v1_110_2} | {internal.alternative or '-'} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(inventory_table(), end="")
