"""Streamed chat answers that need no translation go through LiteLLM's pass-through machinery.

A streamed chat answer from an OpenAI-compatible channel to an OpenAI client needs no translation, yet
LiteLLM's chat path parses every chunk into models and dumps it again (about 1 ms of CPU per chunk on
this box). LiteLLM already relays raw bytes for its pass-through routes: `Router.allm_passthrough_route`
(deployment choice, fallbacks, the deployment hooks) and the proxy's `base_process_llm_request` with
route type `allm_passthrough_route` (pre-call hooks, response-headers hook, a byte relay, logging from
the collected chunks at the end, once). So our route in front of `/v1/chat/completions` runs LiteLLM's
own pre-call logic (auth ran as its dependency; our pre-call hook routes), and then picks the route type:

- every channel the ranking may reach speaks OpenAI chat natively -> `allm_passthrough_route`, called
  and answered by router_ext/relay_response.py unless a LiteLLM feature needs its general processing;
- else (or the request is not a stream, or carries a field we do not relay) -> LiteLLM's own chat path.

Both continue from the same pre-call result (`skip_pre_call_logic`), so no hook runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request, Response

from router_ext.litellm_seam.callback_kwargs import routing_record
from router_ext.litellm_seam.relay_call import call_relay, litellm_processing_needed, relay_response
from router_ext.litellm_seam.relay_client import relay_client
from router_ext.litellm_seam.router_registry import deployment_entry
from router_ext.public_model import restamp_sse_bytes
from router_ext.relay_first_frame import TIMEOUT_HEADER

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime

# Fields of OpenAI's chat completions request that LiteLLM's chat path sends upstream as they come
# (tests/integration/test_litellm_seam_proxy.py compares both paths field by field); a body with any
# other field takes LiteLLM's path, which knows what to do with its own (`metadata`, `fallbacks`,
# ...) and with those it changes: it drops `user` and refuses `verbosity` for most models.
CHAT_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
        "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias",
        "logprobs", "top_logprobs", "seed", "tools", "tool_choice", "parallel_tool_calls",
        "response_format", "reasoning_effort", "service_tier", "store", "modalities", "prediction",
        "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip
# Providers whose chat completions API is OpenAI's own wire format
OPENAI_WIRE = frozenset({"openai", "hosted_vllm", "openai_like", "custom_openai"})
# Deployment settings the relay honours; any other (extra headers, organisation, ...) takes LiteLLM's path
RELAYED_PARAMS = frozenset(
    {
        "model", "api_base", "api_key", "rpm", "tpm", "timeout", "stream_timeout", "max_retries",
        "tags", "input_cost_per_token", "output_cost_per_token", "custom_llm_provider",
    }
)  # fmt: skip


KEY_METADATA = (
    ("user_id", "user_api_key_user_id"),
    ("team_id", "user_api_key_team_id"),
    ("org_id", "user_api_key_org_id"),
    ("organization_alias", "user_api_key_org_alias"),
    ("agent_id", "agent_id"),
)


def relayable_body(body: Mapping[str, Any]) -> bool:
    return (
        body.get("stream") is True
        and isinstance(body.get("messages"), list)
        and set(body) <= CHAT_FIELDS
        and ("tool_choice" not in body or bool(body.get("tools")))  # LiteLLM drops it without tools
    )


def relayable_params(params: Mapping[str, Any]) -> bool:
    model = str(params.get("model") or "")
    provider = params.get("custom_llm_provider") or model.split("/", 1)[0]
    return (
        bool(params.get("api_base"))
        and provider in OPENAI_WIRE
        and set(params) <= RELAYED_PARAMS
        and same_model_upstream(model, params.get("custom_llm_provider"))
    )


def same_model_upstream(model: str, custom_llm_provider: Any) -> bool:
    """Whether LiteLLM's pass-through names the upstream model as its chat path does. The chat path
    strips the provider prefix once (`openai/openai/x` -> `openai/x`, an aggregator's own id); the
    pass-through strips it again (`allm_passthrough_route`, then `llm_passthrough_route`: `x`), a
    404 at best and another model at worst. Such a deployment is left to LiteLLM's chat path.
    Checked on 1.108.7 and 1.110.2."""
    import litellm

    try:
        once = litellm.get_llm_provider(model=model, custom_llm_provider=custom_llm_provider or None)
        twice = litellm.get_llm_provider(model=once[0], custom_llm_provider=once[1])
    except Exception:  # noqa: BLE001  # LiteLLM raises bare exceptions for names it cannot place
        return False
    return bool(once[0] == twice[0])


class RelayableDeployments:
    """Whether each deployment may be relayed, worked out once per deployment entry (the Router
    replaces a deployment's entry when it changes, on 1.108 and 1.110). `Router.get_deployment` would build a
    pydantic Deployment per call: about 1 ms here, per reachable deployment and request."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Any, bool]] = {}

    def __call__(self, router: Any, deployment_id: str) -> bool:
        entry = deployment_entry(router, deployment_id)
        if entry is None:
            return False
        known = self._known.get(deployment_id)
        if known is not None and known[0] is entry:
            return known[1]
        raw = entry.get("litellm_params") if isinstance(entry, Mapping) else None
        # LiteLLM fills in its own flags as False: only what is set counts
        verdict = isinstance(raw, Mapping) and relayable_params(
            {k: v for k, v in raw.items() if v is not None and v is not False}
        )
        self._known[deployment_id] = (entry, verdict)
        return verdict


def reachable(data: Mapping[str, Any]) -> list[str]:
    """The deployment ids a routed request may reach: its model, then its fallbacks."""
    names = [str(data.get("model"))]
    for entry in data.get("fallbacks") or ():
        values: Iterable[Any] = entry.values() if isinstance(entry, Mapping) else [entry]
        for value in values:
            names += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return names


LOGGED_BEFORE_END_S = 2.0  # the longest a stream's end waits for its logging


async def to_client(stream: AsyncIterator[bytes], logging_obj: Any, upstream: Any) -> AsyncIterator[bytes]:
    """A relayed stream as the client gets it, in one pass per piece:
    - its first piece out is the stream's first token: LiteLLM notes that as it parses a chat
      stream, a relay parses nothing (time to first token feeds the speed signal and hedging);
    - its `[DONE]` goes out once LiteLLM has logged it (its loggers, our record, cost and spend), as
      on LiteLLM's chat path; its pass-through logs after the end, where the work held up the
      client's next request and a budget could miss the spend of the answer just read. (Clients
      stop reading at `[DONE]`: the end of the body would be too late.)"""
    first = True
    done = b""
    async for piece in stream:
        if first and logging_obj is not None:
            logging_obj.update_completion_start_time(datetime.datetime.now())
            first = False
        if done or b"data: [DONE]" in piece:
            done += piece
        else:
            yield piece
    wait = getattr(upstream, "wait_for_spend_flush", None)
    if wait is not None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wait(), LOGGED_BEFORE_END_S)
    if done:
        yield done


# A chunk with any of these needs LiteLLM's own rebuild (tool calls, several choices, logprobs,
# reasoning, refusals)
_REBUILT_BY_LITELLM = re.compile(
    r'"(?:tool_calls|function_call|reasoning_content|reasoning|refusal|audio|logprobs)":\s*[^n\s]'
    r'|"index":\s*[1-9]'
)  # (a null value is no content: OpenAI sends `"refusal":null` and `"logprobs":null` in every stream)
# A delta's text as JSON escaped it; the fragments of one answer are unescaped together
_CONTENT = re.compile(r'"content":\s*"((?:[^"\\]|\\.)*)"')
_FINISH = re.compile(r'"finish_reason":\s*"([a-z_]+)"')
_USAGE = re.compile(r'"usage":\s*\{')


def plain_text_answer(lines: Iterable[str], model: str) -> Any:
    """The whole answer of a relayed stream of one text choice with usage, or None. Read with
    regular expressions: a JSON parse per chunk was half the end-of-stream work of a 1,000-chunk
    stream, on the event loop the next request waits for."""
    from litellm.types.utils import Choices, Message, ModelResponse, Usage

    parts: list[str] = []
    first: dict[str, Any] | None = None
    finish, usage = None, None
    for line in lines:
        if not line.startswith("data: {"):
            continue
        if _REBUILT_BY_LITELLM.search(line):
            return None
        if first is None:
            first = json.loads(line[6:])
        content = _CONTENT.search(line)
        if content:
            parts.append(content.group(1))
        ended = _FINISH.search(line)
        if ended:
            finish = ended.group(1)
        if _USAGE.search(line):
            usage = json.loads(line[6:]).get("usage") or usage
    if first is None or not isinstance(usage, dict):
        return None
    return ModelResponse(
        id=first.get("id"),
        created=first.get("created"),
        model=first.get("model") or model,
        choices=[
            Choices(
                index=0,
                finish_reason=finish or "stop",
                message=Message(role="assistant", content=json.loads(f'"{"".join(parts)}"')),
            )
        ],
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
        ),
    )


def relay_config() -> Any:
    """LiteLLM's vLLM pass-through config (URL, stream detection, logging an OpenAI stream from its
    chunks) with OpenAI's bearer auth: no OpenAI-compatible pass-through config ships with 1.108."""
    from litellm.llms.vllm.passthrough.transformation import VLLMPassthroughConfig

    class OpenAICompatibleRelay(VLLMPassthroughConfig):
        def handle_logging_collected_chunks(
            self,
            all_chunks: Any,
            litellm_logging_obj: Any,
            model: str,
            custom_llm_provider: str,
            endpoint: str,
        ) -> Any:
            # LiteLLM rebuilds the answer by parsing every chunk into models on the event loop
            # (~0.1 ms a chunk, paid while the next stream waits); a plain text answer with the
            # upstream's usage is joined from its JSON instead.
            answer = plain_text_answer(all_chunks, model)
            if answer is not None:
                return answer
            return super().handle_logging_collected_chunks(
                all_chunks, litellm_logging_obj, model, custom_llm_provider, endpoint
            )

        @staticmethod
        def get_api_key(api_key: str | None = None) -> str | None:
            return api_key

        def validate_environment(self, headers: dict, *args: Any, **kwargs: Any) -> dict:
            api_key = kwargs.get("api_key")
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            headers.setdefault("Content-Type", "application/json")
            # the Router's timeout for this deployment, for our client (router_ext/relay_first_frame.py)
            timeout = (kwargs.get("litellm_params") or {}).get("timeout")
            if isinstance(timeout, int | float) and not isinstance(timeout, bool):
                headers[TIMEOUT_HEADER] = str(float(timeout))
            return headers

    return OpenAICompatibleRelay()


def pre_call_done(data: dict[str, Any], logging_obj: Any) -> Any:
    """LiteLLM's request processing for a request whose pre-call logic has run: what its own
    pre-call step would hand on (the data as the hooks left it, the logging object it made)."""
    from litellm.proxy.common_request_processing import ProxyBaseLLMRequestProcessing

    class PreCallDone(ProxyBaseLLMRequestProcessing):
        async def _pre_call_with_fallbacks(self, *args: Any, **kwargs: Any) -> tuple[dict, Any]:
            return self.data, logging_obj

    return PreCallDone(data=data)


def build_fast_chat_route(runtime: RouterRuntime) -> Any:
    from litellm.proxy import proxy_server
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from litellm.proxy.common_request_processing import ProxyBaseLLMRequestProcessing
    from litellm.proxy.common_utils.http_parsing_utils import read_request_body
    from litellm.proxy.pass_through_endpoints.injected_stream_usage import without_injected_usage_frames

    config = relay_config()
    relayable = RelayableDeployments()
    authenticated = Depends(user_api_key_auth)  # LiteLLM's own auth, as on its chat route

    async def chat_completion(
        request: Request,
        fastapi_response: Response,
        model: str | None = None,
        user_api_key_dict: Any = authenticated,
    ) -> Any:
        body = await read_request_body(request=request)
        if not (runtime.settings.fast_streams and relayable_body(body)):
            return await proxy_server.chat_completion(
                request=request,
                fastapi_response=fastapi_response,
                model=model,
                user_api_key_dict=user_api_key_dict,
            )
        data = dict(body)
        # what LiteLLM's chat route puts in metadata before its processing (its loggers read them)
        data["metadata"] = {
            field: getattr(user_api_key_dict, attribute)
            for attribute, field in KEY_METADATA
            if getattr(user_api_key_dict, attribute, None) is not None
        }
        processor = ProxyBaseLLMRequestProcessing(data=data)
        settings: dict[str, Any] = {
            "general_settings": proxy_server.general_settings,
            "proxy_config": proxy_server.proxy_config,
            "user_model": proxy_server.user_model,
            "user_temperature": proxy_server.user_temperature,
            "user_request_timeout": proxy_server.user_request_timeout,
            "user_max_tokens": proxy_server.user_max_tokens,
            "user_api_base": proxy_server.user_api_base,
            "version": proxy_server.version,
        }
        logging = proxy_server.proxy_logging_obj
        router = proxy_server.llm_router
        try:
            processor.data, logging_obj = await processor.common_processing_pre_call_logic(
                request=request,
                user_api_key_dict=user_api_key_dict,
                proxy_logging_obj=logging,
                route_type="acompletion",
                model=model,
                llm_router=router,
                **settings,
            )
            routed = processor.data
            relay = (
                router is not None
                and not routing_record(routed).get("hedge")  # a race is LiteLLM's fastest_response
                and all(relayable(router, i) for i in reachable(routed))
            )
            strips_usage = False
            if relay:
                sent = {k: v for k, v in routed.items() if k in CHAT_FIELDS}
                options = dict(sent.get("stream_options") or {})
                strips_usage = not options.get("include_usage")
                sent["stream_options"] = {**options, "include_usage": True}
                routed.update(
                    method="POST",
                    endpoint="chat/completions",
                    json=sent,
                    provider_config=config,
                    client=relay_client(),  # fails over a stream that breaks before its first frame
                    stream=True,
                )
            skip = "litellm_logging_obj" in routed
            if not skip:
                # A hedged race logs each call on its own (the pre-call hook took the shared
                # logging object away); LiteLLM's skip_pre_call_logic insists on it being there.
                processor = pre_call_done(routed, logging_obj)
            result: Any
            if (
                relay
                and skip
                and not litellm_processing_needed(routed, router, proxy_server.general_settings)
            ):
                answer = await call_relay(routed, request, router, user_api_key_dict)
                result = await relay_response(
                    processor, request, answer, user_api_key_dict, logging, proxy_server.version
                )
            else:
                result = await processor.base_process_llm_request(
                    request=request,
                    fastapi_response=fastapi_response,
                    user_api_key_dict=user_api_key_dict,
                    route_type="allm_passthrough_route" if relay else "acompletion",
                    proxy_logging_obj=logging,
                    llm_router=router,
                    select_data_generator=proxy_server.select_data_generator,
                    model=model,
                    skip_pre_call_logic=skip,
                    **settings,
                )
            if relay and hasattr(result, "body_iterator"):
                # LiteLLM's AsyncPassthroughStreamingResponse: it knows when its logging is done
                upstream = stream = result.body_iterator
                if strips_usage:
                    stream = without_injected_usage_frames(stream)
                stream = restamp_sse_bytes(stream, str(body.get("model")))
                result.body_iterator = to_client(stream, processor.data.get("litellm_logging_obj"), upstream)
                result.headers["x-router-path"] = "relay"
            return result
        except Exception as error:
            raise await processor._handle_llm_api_exception(
                e=error,
                user_api_key_dict=user_api_key_dict,
                proxy_logging_obj=logging,
                version=proxy_server.version,
            ) from error

    return chat_completion
