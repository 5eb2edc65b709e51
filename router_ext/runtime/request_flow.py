"""One request through smart-router, from the pre-call hook to its record.

`route` (pre-call): a virtual name becomes the deployment id of the best candidate, and the
next candidates become the request's LiteLLM `fallbacks`, so the Router makes one concrete call
at a time. Then the attempts: `attempt_failed` feeds the breakers for each failed one. The end,
each exactly once per request: `succeeded` (settles the cost, writes the record), `failed`
(records and answers 503 `all_channels_failed` unless the caller was at fault) or a rejection
(recorded by `failed` too). `response_headers` names the deployment that answered.

Nothing here reads LiteLLM's callback arguments: the adapter (hook.py) hands plain values.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from accounting.cost import Usage, cached_cost, price_cost
from accounting.quotas import QuotaBook
from catalog.channel import Channel
from health.classify import ErrorKind
from router_ext.catalogue.catalogue import Catalogue
from router_ext.client_keys import ClientKey, KeyRing
from router_ext.clock import utc_now
from router_ext.errors import router_error
from router_ext.litellm_seam.request_data import request_header
from router_ext.litellm_seam.types import ProxyException
from router_ext.logs import log_request
from router_ext.metrics import RouterMetrics
from router_ext.openrouter.preferences import OPENROUTER_HEADER, Preferences
from router_ext.openrouter.routing import OpenRouterRouting, has_variant
from router_ext.request_checks import check_request
from router_ext.request_facts import request_facts
from router_ext.runtime.decisions import Decider
from router_ext.runtime.hedging import StreamHedging
from router_ext.runtime.records import FAILED, METADATA_KEY, REJECTED, SUCCESS, RequestRecord
from router_ext.runtime.rules import Rules
from router_ext.runtime.stream_race import OpenHedge
from router_ext.runtime.tickets import (
    attempt_list,
    build_ticket,
    decision_facts,
    litellm_routing_decision,
    ticket_json,
)
from router_ext.settings import RouterSettings
from router_ext.state.channel_health import Attempts, ChannelHealth
from router_ext.state.quality_feedback import (
    FeedbackError,
    QualityFeedback,
    parse_feedback_header,
    parse_score,
)
from router_ext.state.rate_windows import RateWindows
from router_ext.state.spend_tracker import SpendTracker, session_of
from router_ext.state.sticky_sessions import StickySessions, sticky_session_of
from strategies.base import RequestFacts
from strategies.decision import Decision
from strategies.quality import channel_quality, strongest_channel
from strategies.rotation import rotate_pools

log = logging.getLogger("smart_router")
LITELLM_METADATA_ENDPOINTS = ("responses", "messages")
MAX_KEPT_ANSWERS = 1_000
# Fields LiteLLM acts on that would route a request past what its virtual name or its client key
# allows (a client's `context_window_fallbacks` to a paid model under `auto:free`, say). Ours to
# set: dropped from a request for a virtual name, and from any request of a client key.
ROUTING_FIELDS = (
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "num_retries",
    "max_retries",
    "retry_policy",
    "model_group_retry_policy",
    "api_key",
    "api_version",
    "organization",
    "custom_llm_provider",
    "use_chat_completions_api",
    "fastest_response",
)
ENDPOINTS = {  # LiteLLM's call type -> our endpoint name
    "acompletion": "chat",
    "completion": "chat",
    "aresponses": "responses",
    "responses": "responses",
    "anthropic_messages": "messages",
    "aembedding": "embeddings",
    "embedding": "embeddings",
    "atext_completion": "completions",
    "text_completion": "completions",
}


def endpoint_of(call_type: Any) -> str:
    name = str(getattr(call_type, "value", call_type) or "")
    return ENDPOINTS.get(name, "chat")


MODEL_UNKNOWN = ("model_not_found", "does not exist", "unknown model", "model not found", "no such model")


def route_missing(exception: BaseException) -> bool:
    """A 404 / 405 about the path (`{"detail": "Not Found"}`, Ollama's `404 page not found`), not
    about the model (`The model x does not exist`, `model_not_found`)."""
    if getattr(exception, "status_code", None) not in (404, 405):
        return False
    text = f"{getattr(exception, 'message', '')} {getattr(exception, 'body', '') or ''}".lower()
    return not any(sign in text for sign in MODEL_UNKNOWN)


class FailoverStopped(RuntimeError):
    """Raised before a Router attempt past the request's failover budget: the remaining
    candidates are skipped, not failed (no breaker hears of it)."""


def stopped_by_us(exception: BaseException) -> bool:
    cause = getattr(exception, "original_exception", None) or exception
    return isinstance(cause, FailoverStopped) or "smart-router: failover stopped" in str(cause)


class AllChannelsFailed(HTTPException):
    """Every candidate failed: LiteLLM renders an HTTPException returned by the failure hook."""

    type = "all_channels_failed"
    param = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request, as the adapter read it from LiteLLM's auth object."""

    key_hash: str | None  # our budget subject of the key (never the key)
    client_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A served call, as the adapter read it from LiteLLM's success callback."""

    deployment_id: str
    latency_ms: float
    ttft_ms: float | None
    output_tokens: int
    total_tokens: int
    litellm_cost: float | None
    usage: Callable[[], Usage]  # counted only if the request is ours and not settled yet


class RequestFlow:
    def __init__(
        self,
        settings: RouterSettings,
        decider: Decider,
        catalogue: Catalogue,
        health: ChannelHealth,
        spend: SpendTracker,
        quotas: QuotaBook,
        keys: KeyRing,
        metrics: RouterMetrics,
        rules: Rules,
        ready: Callable[[], Awaitable[None]],
        first_answer: Callable[[], None],
        rate_windows: RateWindows | None = None,
        feedback: QualityFeedback | None = None,
    ) -> None:
        self.settings = settings
        self.rate_windows = rate_windows
        self.feedback = feedback
        self.openrouter = OpenRouterRouting(decider, catalogue)
        self._feedback_tasks: set[asyncio.Task[Any]] = set()
        self.sticky = StickySessions(settings.sticky)
        self.hedging = StreamHedging(settings.hedging.policy(), catalogue)
        self.decider = decider
        self.catalogue = catalogue
        self.health = health
        self.spend = spend
        self.quotas = quotas
        self.keys = keys
        self.metrics = metrics
        self.rules = rules
        self._answers: OrderedDict[str, AllChannelsFailed] = OrderedDict()
        self._ready = ready
        self._first_answer = first_answer

    # -- before the call -------------------------------------------------------------------------
    async def route(self, data: dict[str, Any], caller: Caller, endpoint: str = "chat") -> dict[str, Any]:
        """`endpoint`: chat, responses, messages, embeddings or completions."""
        await self._ready()
        model = data.get("model")
        # LiteLLM keeps its own metadata of Responses and Messages calls under `litellm_metadata`:
        # there `metadata` is the API's own field and would be sent upstream.
        where = "litellm_metadata" if endpoint in LITELLM_METADATA_ENDPOINTS else "metadata"
        metadata = data.get(where)
        if not isinstance(metadata, dict):
            metadata = data[where] = {}
        client_key = self.keys.by_id.get(caller.client_key_id) if caller.client_key_id else None
        session = session_of(data, caller.key_hash)
        facts = request_facts(data, self.settings.default_max_tokens, endpoint)
        routed: dict[str, Any] = {
            "request_id": uuid.uuid4().hex[:16],
            "endpoint": endpoint,
            "requested_model": model,
            "session": session,
            "key": caller.key_hash,
            "prompt_tokens": facts.prompt_tokens,
            "max_output_tokens": facts.max_output_tokens,
            "started_at": time.time(),
            "stream": bool(data.get("stream")),
        }
        if facts.difficulty is not None:
            routed["tier"], routed["kind"] = facts.difficulty.tier, facts.difficulty.kind
        app = app_of(data)
        if app:
            routed["app"] = app
        if client_key is not None:
            routed["client_key"] = client_key.name
        sticky_session = sticky_session_of(data)
        if sticky_session is not None:
            routed["sticky_session"] = sticky_session
        metadata[METADATA_KEY] = routed
        try:
            check_request(data, endpoint)
            self._take_feedback(data, caller)
            rule = self.rules.first_match(model, facts, data, client_key.name if client_key else None)
            strategy = None
            if rule is not None:
                routed["rule"] = rule.name
                model = rule.settings.route or model
                strategy = rule.settings.strategy
            prefs = self._openrouter_preferences(data, model)
            dropped = self._drop_routing_fields(data, model, client_key, openrouter=prefs is not None)
            if dropped:
                routed["dropped_fields"] = dropped
            return await self._rewrite(model, data, routed, facts, client_key, strategy, prefs)
        except ProxyException as rejection:
            routed["rejected"] = rejection.type  # refused before any upstream call
            raise

    def _take_feedback(self, data: Mapping[str, Any], caller: Caller) -> None:
        """`x-router-feedback: <request id>=<score>`: scores for this caller's earlier answers,
        taken off the request's path (a malformed header is this request's 400)."""
        header = request_header(data, "x-router-feedback")
        if not header or self.feedback is None or not self.settings.difficulty.feedback_header:
            return
        try:
            pairs = parse_feedback_header(header)
            scores = [(request_id, parse_score(score)) for request_id, score in pairs]
        except FeedbackError as error:
            raise router_error(400, error.kind, error.message, param="x-router-feedback") from None
        feedback = self.feedback
        # Scored as this caller: the master key (no key hash) may score any request.
        owner = caller.key_hash

        async def give() -> None:
            for request_id, score in scores:
                try:
                    await feedback.give(request_id, score, "header", owner)
                except FeedbackError as error:
                    log.info("smart-router: feedback for %s not taken: %s", request_id, error.message)

        task = asyncio.get_running_loop().create_task(give())
        self._feedback_tasks.add(task)
        task.add_done_callback(self._feedback_tasks.discard)

    async def feedback_done(self) -> None:
        """Wait for the scores taken from headers so far (tests, shutdown)."""
        if self._feedback_tasks:
            await asyncio.gather(*self._feedback_tasks, return_exceptions=True)

    async def _rewrite(
        self,
        model: Any,
        data: dict[str, Any],
        routed: dict[str, Any],
        facts: RequestFacts,
        client_key: ClientKey | None,
        strategy: str | None = None,
        prefs: Preferences | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        decision: Decision | None
        if prefs is not None and isinstance(model, str):
            decision, summary = self.openrouter.decide(model, prefs, data, facts, client_key, strategy)
            routed["openrouter"] = summary
        else:
            decision = (
                self.decider.decide(model, data, facts=facts, client_key=client_key, strategy=strategy)
                if isinstance(model, str)
                else None
            )
        estimate = 0.0
        if decision is not None:
            self.metrics.decision_seconds.observe(time.perf_counter() - started)
            ranked = rotate_pools(decision.ranked, self.health.last_used)
            ranked, stayed = self.sticky.prefer(
                ranked,
                routed.get("sticky_session"),
                decision.strategy.name,
                lambda c: c.id,
                lambda c, cached: cached_cost(c, facts.prompt_tokens, facts.max_output_tokens, cached),
                time.time(),
            )
            if stayed:
                routed["sticky"] = True
            attempts = ranked  # all of them: the failover budget is time and slow failures, not a count
            data["model"] = attempts[0].id
            # Our ranked list is the failover order; the Router walks it on errors before the
            # first byte. LiteLLM's own retries of the same deployment would only delay that.
            data["fallbacks"] = [{"*": [c.id for c in attempts[1:]]}] if len(attempts) > 1 else []
            data["num_retries"] = 0
            if self.health.dispatched(attempts[0].id, time.time()):
                routed["probe"] = True  # given back if the request is refused before it goes out
            # Counted against its rate-limit windows now, with no await since the decision:
            # requests decided meanwhile see it, so a window's last request goes out once.
            self._count_sent(routed, str(routed["request_id"]), attempts[0].id)
            scores = dict(zip((c.id for c in decision.ranked), decision.scores, strict=True))
            if decision.floor is not None:
                routed["floor"] = decision.floor.minimum
                routed["tier"] = decision.floor.tier  # raised by the client, or stepped down
                if decision.floor.stepped_from:
                    routed["stepped_down_from"] = decision.floor.stepped_from
            if "@" in decision.strategy.name:  # degraded near a budget: show what it ranked by
                routed["weights"] = ",".join(f"{k}={v:g}" for k, v in decision.strategy.weights.items() if v)
            routed.update(
                strategy=decision.strategy.name,
                candidates=[c.id for c in attempts],
                scores=[round(scores[c.id], 6) for c in attempts],
                eligible=decision.eligible,
                channel=attempts[0].channel,
            )
            routed.update(decision_facts(decision, routed.get("requested_model")))  # the ticket's
            hedge = self.hedging.plan(routed, routed["candidates"])
            if hedge is not None and facts.endpoint == "chat":
                # LiteLLM's own race (router_ext/runtime/hedging.py); the hedge is held back in
                # before_attempt, and the rest of the ranking is its failover.
                rest = [c.id for c in attempts[1:] if c.id != hedge]
                data["model"] = f"{attempts[0].id},{hedge}"
                data["fastest_response"] = True
                data["fallbacks"] = [{hedge: rest}] if rest else []
                # Each call of the race logs on its own: with the proxy's one logging object
                # shared, the call LiteLLM cancels would log first and hide the winner's end.
                data.pop("litellm_logging_obj", None)
            estimate = price_cost(attempts[0], Usage(facts.prompt_tokens, facts.max_output_tokens)) or 0.0
            self._bridge(data, facts.endpoint, attempts)
        elif isinstance(model, str):
            self._bridge(data, facts.endpoint, self.catalogue.named(model))
        exceeded = await self.spend.check(
            routed.get("key"),
            routed.get("session"),
            estimate,
            client_key.limits if client_key else (),
            client_key.name if client_key else None,
        )
        if exceeded is not None:
            self._withdraw(routed)
            raise router_error(429, "budget_exceeded", exceeded.message, router_status="budget-exceeded")
        if estimate > 0 and (self.spend.book.limits or (client_key is not None and client_key.limits)):
            self.spend.hold(str(routed["request_id"]), routed.get("key"), routed.get("session"), estimate)
        return data

    def _openrouter_preferences(self, data: Mapping[str, Any], model: Any) -> Preferences | None:
        """OpenRouter's fields, moved out of the body by the `/api/v1` wire (router_ext/openrouter):
        None when the request came another way, or asks for a model name as LiteLLM routes it."""
        header = request_header(data, OPENROUTER_HEADER)
        if not header or not isinstance(model, str):
            return None
        prefs = Preferences.from_header(header)
        plain = self.catalogue.named(model) or (self.decider.is_virtual(model) and not has_variant(model))
        if prefs.empty and plain:
            return None  # a plain request: our usual path

        return prefs

    def _drop_routing_fields(
        self, data: dict[str, Any], model: Any, client_key: ClientKey | None, openrouter: bool = False
    ) -> list[str]:
        """What only we may decide (see ROUTING_FIELDS). The master key naming a concrete model
        keeps LiteLLM's own fallbacks and retries; the wire API is ours in every case."""
        if client_key is not None and not isinstance(model, str):
            raise router_error(
                400,
                "invalid_model",
                "a client key sends one model name per request, not a list",
                param="model",
            )
        virtual = openrouter or (isinstance(model, str) and self.decider.is_virtual(model))
        fields = ROUTING_FIELDS if virtual or client_key is not None else ("use_chat_completions_api",)
        return [name for name in fields if data.pop(name, None) is not None]

    def _bridge(self, data: dict[str, Any], endpoint: str, channels: Sequence[Channel]) -> None:
        """A Responses call goes through chat completions when any channel it may reach does not
        speak the Responses API itself (the flag holds for every fallback, and a native channel
        serves chat completions too). Messages need no flag: LiteLLM sends them to an OpenAI-style
        channel's chat completions (set at start-up) unless the channel declares `/v1/messages`."""
        if endpoint == "responses" and any("responses" not in c.native_apis for c in channels):
            data["use_chat_completions_api"] = True

    def healthy(self, deployments: list[Any], deployment_id: Callable[[Any], str | None]) -> list[Any]:
        """Plain model names: drop deployments whose breaker is open, key is dead or rate-limit
        window is spent (if any deployment is left; otherwise let LiteLLM try rather than invent
        an error)."""
        book = self.health.book
        spent = self.rate_windows.book.spent(time.time()) if self.rate_windows is not None else {}
        if len(deployments) < 2 or not (book.breakers or book.disabled_keys or spent):
            return deployments
        now = time.time()
        fingerprints = self.health.fingerprints
        allowed = []
        for deployment in deployments:
            found = str(deployment_id(deployment))
            if found not in spent and book.allows(found, fingerprints.get(found), now):
                allowed.append(deployment)
        return allowed or deployments

    # -- attempts --------------------------------------------------------------------------------
    async def before_attempt(self, routed: Mapping[str, Any], deployment_id: str | None = None) -> None:
        """Before each call the Router makes for this request: stop walking the candidates when
        the request's deadline has passed or its slow failures are used up. Fast failures (a
        dead key, a 429, a 500) cost nothing, so they never stop a request that a channel
        further down can still answer."""
        request_id = routed.get("request_id")
        if not request_id:
            return
        now = time.time()
        attempts = self.health.attempts_for(str(request_id))
        if not routed.get("candidates"):  # a plain name: the deployment LiteLLM picked
            attempts.started_at, attempts.current = now, deployment_id
            self._count_sent(routed, str(request_id), deployment_id)
            return
        health = self.settings.health
        waited = now - float(routed.get("started_at") or now)
        if attempts.failures and (
            waited > health.failover_deadline_s or attempts.slow >= health.max_attempts
        ):
            raise FailoverStopped(
                f"smart-router: failover stopped after {waited:.1f} s and {attempts.slow} slow failure(s) "
                f"(health.failover_deadline_s {health.failover_deadline_s:g}, health.max_attempts {health.max_attempts})"
            )
        if routed.get("hedge") and deployment_id:
            await self.hedging.hold(str(request_id), deployment_id)
        attempts.started_at, attempts.current = now, deployment_id
        if deployment_id:
            attempts.began[deployment_id] = now  # the ticket's attempt durations
        # The deployment the Router is calling (after a stream that broke before its first chunk
        # no failure hook has told us the last one failed, so the ranking cannot say which).
        self._count_sent(routed, str(request_id), deployment_id)

    def _count_sent(
        self, routed: Mapping[str, Any], request_id: str, deployment_id: str | None = None
    ) -> None:
        """Against the rate-limit windows of the deployment the Router is on, before its answer."""
        serving = (deployment_id or self.serving(routed)) if self.rate_windows is not None else None
        if serving and self.rate_windows is not None:
            tokens = int(routed.get("prompt_tokens") or 0) + int(routed.get("max_output_tokens") or 0)
            self.rate_windows.sent(serving, tokens, request_id)

    def _finish(self, request_id: str | None) -> Attempts:
        """The request has ended: its attempts are forgotten, and nothing of it is in flight."""
        if request_id and self.rate_windows is not None:
            self.rate_windows.finish(str(request_id))
        return self.health.finish(request_id)

    def _withdraw(self, routed: Mapping[str, Any]) -> None:
        """A request refused after routing never reached the channel it was counted on."""
        candidates, request_id = routed.get("candidates") or [], routed.get("request_id")
        if candidates and routed.get("probe"):
            self.health.probe_unused(str(candidates[0]), time.time())
        if self.rate_windows is not None and candidates and request_id:
            self.rate_windows.withdraw(str(candidates[0]), str(request_id))

    def attempt_failed(self, channel_id: str, exception: BaseException, routed: Mapping[str, Any]) -> None:
        if stopped_by_us(exception):
            return  # not the channel's doing
        if routed.get("candidates") and routed.get("request_id"):  # the ticket's attempt durations
            self.health.attempts_for(str(routed["request_id"])).ended.setdefault(channel_id, time.time())
        if self.rate_windows is not None:
            self.rate_windows.observe_failure(channel_id, exception, routed.get("request_id"))
        self.sticky.release(routed.get("sticky_session"), channel_id)
        self.hedging.failed(routed.get("request_id"), channel_id)
        endpoint = str(routed.get("endpoint") or "chat")
        if endpoint != "chat" and route_missing(exception):
            # The upstream has no such path: a fact about (channel, endpoint), not about the model.
            # Bridge from now on (or, for embeddings, stop asking); chat on this channel goes on.
            self.catalogue.lacks(channel_id, endpoint)
            self.health.failed(channel_id, exception, routed.get("request_id"), time.time(), bench=False)
            return
        now = time.time()
        verdict = self.health.failed(channel_id, exception, routed.get("request_id"), now)
        if verdict is not None:
            self._count_failure(channel_id, verdict.kind.value)
            request_id = routed.get("request_id")
            attempts = self.health.attempts_for(str(request_id)) if request_id else None
            if attempts is not None and attempts.started_at:
                took = now - attempts.started_at
                if took >= self.settings.health.slow_attempt_s or verdict.status == 408:
                    attempts.slow += 1

    def fallback_happened(self, failed_id: str, routed: Mapping[str, Any], exception: BaseException) -> None:
        """Some failures (a stream that breaks before its first chunk) reach no deployment
        failure hook, only the Router's fallback events; `failed` ignores a failure already
        counted for this request, so seeing one twice is harmless."""
        if failed_id not in (routed.get("candidates") or []):
            return
        cause = getattr(exception, "original_exception", None) or exception
        self.attempt_failed(failed_id, cause, routed)

    def _count_failure(self, channel_id: str, kind: str) -> None:
        self.metrics.attempt_failures.labels(channel_id, kind).inc()
        self.catalogue.observations.record_failure(channel_id)
        self.quotas.count(channel_id, utc_now(), requests=1)

    # -- the end ---------------------------------------------------------------------------------
    async def succeeded(self, answer: Answer, routed: dict[str, Any]) -> None:
        self._first_answer()
        deployment_id = answer.deployment_id
        if routed.get("hedge") and await self.hedging.lost(routed.get("request_id"), deployment_id):
            return  # the call a hedged race cancelled: not this request's answer
        self.catalogue.observations.record_success(
            deployment_id, answer.latency_ms, answer.ttft_ms, answer.output_tokens
        )
        # The request was counted against the daily quota when its headers went out (before the
        # client could send the next one); its tokens are known only now.
        self.quotas.count(
            deployment_id,
            utc_now(),
            requests=0 if routed.get("quota_counted") else 1,
            tokens=answer.total_tokens or answer.output_tokens,
        )
        self.health.succeeded(deployment_id, time.time())
        if not routed.get("request_id"):
            return
        channel = self.catalogue.channel(deployment_id)
        if self.feedback is not None:
            self.feedback.served(
                str(routed["request_id"]), routed.get("kind"), deployment_id, routed.get("key")
            )
        usage, cost = await self.settle(routed, deployment_id, answer.usage, answer.litellm_cost)
        attempts = self._finish(routed["request_id"])
        own_ttft, ttft_ms, latency_ms = answer.ttft_ms, answer.ttft_ms, answer.latency_ms
        hedge = self.hedging.conclude(routed["request_id"], deployment_id, usage.prompt_tokens)
        if hedge is not None:
            _, race, loser_cost = hedge
            loser = race.primary if deployment_id == race.hedge else race.hedge
            cost += await self._bill_loser(routed, loser, loser_cost)
            if deployment_id == race.hedge and race.after_ms is not None and answer.ttft_ms is not None:
                if race.by_router:  # LiteLLM timed it from the request's start (held inside the call)
                    own_ttft = answer.ttft_ms - race.after_ms
                else:  # a call of its own, timed from when the hedge went out
                    ttft_ms, latency_ms = answer.ttft_ms + race.after_ms, answer.latency_ms + race.after_ms
        if routed.get("stream"):
            self.hedging.observe(deployment_id, own_ttft)
        elif routed.get("endpoint") == "chat":
            # LiteLLM's clock of a held hedge started before its hold
            held = hedge[1].after_ms if hedge is not None and deployment_id == hedge[1].hedge else None
            self.hedging.observe(deployment_id, answer.latency_ms - (held or 0.0), stream=False)
        self._conclude(
            RequestRecord.of(
                routed,
                SUCCESS,
                len(attempts.failures) + 1,
                deployment_id,
                channel,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=cost,
                hedge=hedge[0] if hedge is not None else None,
                baseline_cost_usd=self._baseline(routed, usage),
                quality=round(channel_quality(channel), 4)
                if channel is not None and routed.get("tier")
                else None,
                ticket=self._ticket(routed, attempts, deployment_id, latency_ms),
            )
        )

    def _ticket(
        self,
        routed: Mapping[str, Any],
        attempts: Attempts,
        served: str | None = None,
        served_ms: float | None = None,
    ) -> str | None:
        """The record's routing ticket (router_ext/runtime/tickets.py), built at the request's end;
        None for a concrete model name. `served_ms`: the answer's latency, when its start is unknown."""
        if not routed.get("candidates"):
            return None
        began = attempts.began.get(served) if served else None
        if began:
            served_ms = (time.time() - began) * 1000.0
        try:
            tried = attempt_list(attempts, served, served_ms)
            return ticket_json(build_ticket(routed, tried, self.catalogue, self.decider.state.strategies))
        except Exception:  # an explanation must never cost the record
            log.exception("smart-router: no routing ticket for request %s", routed.get("request_id"))
            return None

    def routing_decision(self, routed: Mapping[str, Any], deployment_id: str) -> dict[str, Any] | None:
        """The decision in the shape LiteLLM's logs view renders (`metadata.routing_decision`);
        None for a concrete model name."""
        request_id = routed.get("request_id")
        if not request_id or not routed.get("candidates"):
            return None
        attempts = self.health.requests.get(str(request_id)) or Attempts()
        return litellm_routing_decision(routed, deployment_id, attempts, self._score(routed, deployment_id))

    def _baseline(self, routed: Mapping[str, Any], usage: Usage) -> float | None:
        """What the strongest priced channel would have cost for the same tokens: the dashboard's
        "saved against always the strongest", per tier."""
        if not routed.get("tier"):
            return None
        cost = price_cost(strongest_channel(self.catalogue.index()), usage)
        return round(cost, 10) if cost is not None else None

    async def race_call(
        self, routed: Mapping[str, Any], open_primary: OpenHedge, open_hedge: OpenHedge
    ) -> Any:
        """A Messages or Responses stream's call and first item, raced against its hedge."""
        return await self.hedging.race_call(routed.get("request_id"), open_primary, open_hedge)

    def served_stream(self, routed: Mapping[str, Any], response: Any) -> Any:
        return self.hedging.served_stream(routed.get("request_id"), response)

    async def _bill_loser(self, routed: dict[str, Any], loser_id: str, cost: float) -> float:
        """A priced hedge loser cut before its first token: its prompt, as most upstreams bill it."""
        if not cost:
            return 0.0
        settled, newly = self.spend.settle(
            f"{routed['request_id']}.hedge",
            self.catalogue.channel(loser_id),
            Usage(int(routed.get("prompt_tokens") or 0), 0, counted=True),
            None,
            routed.get("key"),
            routed.get("session"),
        )
        if newly and self.spend.shared is not None:
            await self.spend.share(routed.get("key"), routed.get("session"), settled, True)
        return settled

    async def settle(
        self,
        routed: dict[str, Any],
        deployment_id: str,
        usage_of: Callable[[], Usage],
        litellm_cost: float | None,
    ) -> tuple[Usage, float]:
        """The request's cost, settled once however many callbacks ask (the headers of a
        non-stream, LiteLLM's logging hook, the success event); shared with other replicas."""
        counted = routed.get("settled_usage")  # plain values: the ticket travels in LiteLLM's metadata
        if isinstance(counted, list):
            usage = Usage(*counted)
        else:
            usage = usage_of()
            routed["settled_usage"] = [usage.prompt_tokens, usage.completion_tokens, usage.counted]
        key, session = routed.get("key"), routed.get("session")
        cost, newly = self.spend.settle(
            str(routed["request_id"]),
            self.catalogue.channel(deployment_id),
            usage,
            litellm_cost,
            key,
            session,
        )
        if newly and self.spend.shared is not None:
            budgeted = bool(self.spend.book.limits) or bool(routed.get("client_key"))
            await self.spend.share(key, session, cost, budgeted)
        return usage, cost

    async def logged_outcome(
        self,
        routed: dict[str, Any],
        deployment_id: str,
        usage_of: Callable[[], Usage],
        litellm_cost: float | None,
    ) -> dict[str, Any] | None:
        """What LiteLLM's own spend logs keep of our routing (`spend_logs_metadata`)."""
        if not routed.get("request_id"):
            return None
        if routed.get("hedge") and await self.hedging.lost(routed.get("request_id"), deployment_id):
            return None
        _, cost = await self.settle(routed, deployment_id, usage_of, litellm_cost)
        return {
            "request_id": routed["request_id"],
            "requested_model": routed.get("requested_model"),
            "channel": deployment_id,
            "strategy": routed.get("strategy") or "direct",
            "score": self._score(routed, deployment_id),
            "attempts": len(self.health.attempts_for(routed["request_id"]).failures) + 1,
            "cost_usd": cost,
        }

    def failed(
        self, routed: dict[str, Any], exception: BaseException, call_id: str | None = None
    ) -> HTTPException | None:
        """The request ended without an answer. None: let LiteLLM answer as it would (the
        caller's own 4xx, our rejection). `call_id`: LiteLLM's, to find the answer again where
        LiteLLM ignores the one returned (`answer_for`)."""
        self._first_answer()
        request_id = routed.get("request_id")
        self.hedging.forget(request_id)
        made = self.health.attempts_for(request_id) if request_id else None
        if not routed.get("rejected") and made is not None and not made.started_at and not made.failures:
            # Refused after our routing and before any channel was called (a later proxy hook,
            # a malformed field): the channel did nothing, so nothing is held against it.
            routed["rejected"] = getattr(exception, "type", None) or type(exception).__name__
        if routed.get("rejected"):
            self._withdraw(routed)
            made = self._finish(request_id)
            self._conclude(
                RequestRecord.of(
                    routed,
                    REJECTED,
                    0,
                    error_class=str(routed["rejected"])[:32],
                    ticket=self._ticket(routed, made),
                )
            )
            return None
        current = made.current if made is not None else None
        if (
            made is not None
            and current
            and current not in {c for c, _ in made.failures}
            and not stopped_by_us(exception)
        ):
            # The last attempt's failure can reach no hook (a stream broken before its first
            # chunk, with no fallback left): it is this channel's.
            self.health.failed(current, exception, request_id, time.time())
            made.ended.setdefault(current, time.time())
            if self.rate_windows is not None:
                self.rate_windows.observe_failure(current, exception, request_id)
        attempts = self._finish(request_id)
        routed["attempts"] = len(attempts.failures) or 1
        if request_id:
            last = attempts.failures[-1] if attempts.failures else None
            self._conclude(
                RequestRecord.of(
                    routed,
                    FAILED,
                    routed["attempts"],
                    last[0] if last else None,
                    self.catalogue.channel(last[0]) if last else None,
                    error_class=last[1].kind.value if last else None,
                    latency_ms=(time.time() - float(routed.get("started_at") or time.time())) * 1000,
                    ticket=self._ticket(routed, attempts),
                )
            )
        if not attempts.failures or all(v.kind is ErrorKind.CALLER for _, v in attempts.failures):
            return None  # the request itself was wrong: pass the upstream's 4xx through
        now = time.time()
        reopen = [
            self.health.book.breaker(cid).reopen_at
            for cid, _ in attempts.failures
            if self.health.book.breaker(cid).reopen_at > now
        ]
        routed["failure_headers"] = headers = {
            "x-router-status": "all-channels-failed",
            "retry-after": str(max(1, math.ceil(min(reopen) - now))) if reopen else "1",
            "x-router-attempts": str(routed["attempts"]),
            "x-router-strategy": str(routed.get("strategy") or "direct"),
        }
        if request_id:
            headers["x-router-request-id"] = str(request_id)
        channels = [
            {"channel": cid, "error_class": v.kind.value, "reason": v.reason, "status": str(v.status or "")}
            for cid, v in attempts.failures
        ]
        summary = "; ".join(f"{c['channel']}: {c['reason']}" for c in channels)
        answer = AllChannelsFailed(
            status_code=503,
            headers=headers,  # on the error itself: LiteLLM's /v1/messages errors skip the header hook
            detail={
                "message": f"all {len(channels)} channel(s) tried for {routed.get('requested_model')!r} failed ({summary})",
                "channels": channels,
            },
        )
        if call_id:
            self._answers[call_id] = answer
            while len(self._answers) > MAX_KEPT_ANSWERS:
                self._answers.popitem(last=False)
        return answer

    def answer_for(self, call_id: str | None) -> AllChannelsFailed | None:
        """The failure answer of a LiteLLM call, once (LiteLLM's /v1/messages route renders
        the last upstream error instead of what the failure hook returns)."""
        return self._answers.pop(call_id, None) if call_id else None

    def _conclude(self, record: RequestRecord) -> None:
        """Every request ends here, once: metrics, the request log line, the store."""
        row = record.as_row()
        self.spend.release(record.request_id)  # settled, failed or refused: its estimate no longer held
        self.metrics.requests.labels(record.deployment_id or "-", record.status).inc()
        if self.settings.log_requests:
            log_request(row)
        self.spend.record(row)

    # -- response headers ------------------------------------------------------------------------
    def rejection_headers(self, routed: Mapping[str, Any]) -> dict[str, str] | None:
        if not routed:
            return None
        # A rejection made no attempt; its strategy is named only when one ranked.
        headers = {
            **routed.get("failure_headers", {}),
            "x-router-attempts": "0" if routed.get("rejected") else str(routed.get("attempts", 1)),
        }
        if routed.get("strategy"):
            headers["x-router-strategy"] = str(routed["strategy"])
        if routed.get("request_id"):
            headers["x-router-request-id"] = str(routed["request_id"])
        if routed.get("rule"):
            headers["x-router-rule"] = str(routed["rule"])
        return headers

    async def response_headers(
        self,
        routed: dict[str, Any],
        served_id: str,
        requested: str,
        usage: Usage | None,
        litellm_cost: float | None,
        upstream_headers: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """`usage`: a non-stream's, known now, so its cost is settled and shown; a stream is
        settled when LiteLLM reports its end. `upstream_headers`: the upstream's answer headers
        (its rate-limit windows are learned from them)."""
        if routed.get("hedge"):
            self.hedging.won(routed.get("request_id"), served_id)
        if self.rate_windows is not None:
            self.rate_windows.observe(served_id, upstream_headers, routed.get("request_id"))
        self.sticky.served(
            routed.get("sticky_session"), served_id, time.time(), int(routed.get("prompt_tokens") or 0)
        )
        request_id = routed.get("request_id")
        if request_id and not routed.get("quota_counted"):
            routed["quota_counted"] = True
            self.quotas.count(served_id, utc_now(), requests=1)
        failures = len(self.health.attempts_for(request_id).failures) if request_id else 0
        channel = self.catalogue.channel(served_id)
        headers = {
            "x-router-channel": served_id,
            "x-router-model": channel.upstream_model if channel else requested,
            "x-router-strategy": str(routed.get("strategy") or "direct"),
            "x-router-attempts": str(failures + 1),
        }
        if request_id and usage is not None:
            _, cost = await self.settle(routed, served_id, lambda: usage, litellm_cost)
            headers["x-router-cost-usd"] = _usd(cost)
            headers["x-router-session-cost-usd"] = _usd(self.spend.session_total(routed.get("session")))
        score = self._score(routed, served_id)
        if score is not None:
            headers["x-router-score"] = f"{score:.4f}"
        if request_id:
            headers["x-router-request-id"] = str(request_id)
        if routed.get("rule"):
            headers["x-router-rule"] = str(routed["rule"])
        if routed.get("sticky"):
            headers["x-router-sticky"] = "1"
        if routed.get("weights"):
            headers["x-router-weights"] = str(routed["weights"])
        if routed.get("tier"):
            headers["x-router-tier"] = str(routed["tier"])
            headers["x-router-kind"] = str(routed.get("kind") or "")
        if routed.get("floor") is not None:
            headers["x-router-floor"] = f"{float(routed['floor']):g}"
        if routed.get("openrouter"):
            headers["x-router-openrouter"] = describe_openrouter(routed["openrouter"])
        return headers

    def serving(self, routed: Mapping[str, Any]) -> str | None:
        """The candidate the Router is on: the first one past those that failed for this request."""
        candidates = routed.get("candidates") or []
        if not candidates:  # a plain model name: known when its group has one deployment
            named = self.catalogue.named(str(routed.get("requested_model") or ""))
            return named[0].id if len(named) == 1 else None
        request_id = routed.get("request_id")
        tried = len(self.health.attempts_for(request_id).failures) if request_id else 0
        return str(candidates[tried]) if tried < len(candidates) else None

    @staticmethod
    def _score(routed: Mapping[str, Any], deployment_id: str) -> float | None:
        candidates = routed.get("candidates") or []
        return routed["scores"][candidates.index(deployment_id)] if deployment_id in candidates else None


def app_of(data: Mapping[str, Any]) -> str | None:
    """The app a request comes from, as OpenRouter's clients name it: `X-OpenRouter-Title` (or the
    older `X-Title`), else the `HTTP-Referer` host."""
    title = request_header(data, "x-openrouter-title") or request_header(data, "x-title")
    if title:
        return title.strip()[:200] or None
    referer = request_header(data, "http-referer") or request_header(data, "referer")
    if not referer:
        return None
    host = referer.split("://", 1)[-1].split("/", 1)[0]
    return host[:200] or None


def describe_openrouter(summary: Mapping[str, Any]) -> str:
    """`sort=price->cost_first; only: 2 out; candidates=3`: how OpenRouter's fields changed the ranking."""
    return "; ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in summary.items()
    )[:500]


def _usd(amount: float) -> str:
    return f"{amount:.10f}".rstrip("0").rstrip(".") or "0"
