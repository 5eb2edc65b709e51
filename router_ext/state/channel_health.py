"""Channel health inside the proxy: breakers fed by LiteLLM's failures, excluded before ranking,
recovered by a background probe, and shared with other replicas through `shared_state`.

The request path only reads memory (`exclusions`); Redis and probes run in background tasks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import numpy as np

from accounting.rate_limits import LimitBook
from catalog.index import TagIndex
from health.breaker import DISABLED, OPEN, Breaker, BreakerBook, Transition
from health.classify import ErrorKind, Verdict, classify_error
from health.masking import mask_secrets
from router_ext.settings import HealthSettings
from router_ext.state.routing_state import RoutingState
from router_ext.state.shared_state import LocalState, RedisState, Snapshot
from router_ext.tasks import cancel_and_wait
from strategies.filters import HardFilter

log = logging.getLogger("smart_router")


class WindowSharing(Protocol):
    """The learned rate-limit windows (router_ext/state/rate_windows.py), synced like breakers."""

    book: LimitBook

    def merged(self, channel_id: str, windows: Mapping[str, Any]) -> None: ...

    def merged_caps(self, totals: Mapping[str, float]) -> None: ...


class FeedbackSharing(Protocol):
    """Quality feedback (router_ext/state/quality_feedback.py), added up across replicas."""

    def take_pending(self) -> dict[str, float]: ...

    def give_back(self, pending: Mapping[str, float]) -> None: ...

    def merged(self, totals: Mapping[str, float]) -> None: ...


MAX_TRACKED_REQUESTS = 10_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach a channel for a probe. Kept in memory only; the key is never logged."""

    api_base: str | None
    api_key: str | None
    provider: str


@dataclass
class Attempts:
    failures: list[tuple[str, Verdict]] = field(default_factory=list)
    slow: int = 0  # failed attempts that cost real time (they count toward max_attempts)
    started_at: float = 0.0  # when the current attempt began
    current: str | None = None  # the deployment of the latest attempt begun
    # when each attempt began and, for a failed one, ended (epoch s, by deployment): the record's
    # ticket shows each attempt's duration
    began: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)


class ChannelHealth:
    def __init__(
        self, settings: HealthSettings, state: RoutingState, shared: LocalState | RedisState | None = None
    ) -> None:
        self.settings = settings
        self.book = BreakerBook(settings.breaker_policy())
        self.routing_state = state
        self.shared: LocalState | RedisState = shared or LocalState()
        self.endpoints: dict[str, Endpoint] = {}
        self.fingerprints: dict[str, str | None] = {}
        self.secrets: list[str] = []
        self.windows: WindowSharing | None = None  # learned rate-limit windows, shared with the rest
        self.feedback: FeedbackSharing | None = None  # quality feedback, shared with the rest
        self.last_used: dict[str, float] = {}
        self.requests: OrderedDict[str, Attempts] = OrderedDict()
        self._dirty_breakers: set[str] = set()
        self._dirty_keys: dict[str, dict[str, Any]] = {}
        self._strategy_pushed_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    # -- catalogue ---------------------------------------------------------------------------
    def learn_endpoints(self, index: TagIndex, endpoints: Mapping[str, Endpoint]) -> None:
        self.endpoints = dict(endpoints)
        self.fingerprints = {c.id: c.key_fingerprint for c in index.channels}
        self.secrets = sorted({e.api_key for e in endpoints.values() if e.api_key}, key=len, reverse=True)

    # -- hot path ------------------------------------------------------------------------------
    def exclusions(self, index: TagIndex, now: float) -> HardFilter | None:
        """Channels that may not take a request now: open breakers, disabled channels and keys."""
        if not self.book.breakers and not self.book.disabled_keys:
            return None
        rejects = np.zeros(index.size, dtype=np.bool_)
        reasons: dict[int, str] = {}
        until: dict[int, float] = {}
        for channel_id, why, back_at in self.book.unavailable(now):
            position = index.position_by_id.get(channel_id)
            if position is not None:
                rejects[position] = True
                reasons[position], until[position] = why, back_at
        for fingerprint, info in self.book.disabled_keys.items():
            positions = index.positions_by_key.get(fingerprint)
            if positions is not None:
                rejects[positions] = True
                for position in positions:
                    reasons.setdefault(int(position), f"key {fingerprint} disabled: {info.get('reason')}")
                    until.setdefault(int(position), float("inf"))
        if not rejects.any():
            return None
        return HardFilter("health", rejects, "breaker open or key disabled", reasons, until)

    def dispatched(self, channel_id: str, now: float) -> bool:
        """True when this request takes the channel's half-open probe."""
        self.last_used[channel_id] = now
        transition = self.book.on_dispatch(channel_id, now)
        self._note(transition)
        return transition is not None

    def probe_unused(self, channel_id: str, now: float) -> None:
        if self.book.release_probe(channel_id, now):
            self._dirty_breakers.add(channel_id)

    # -- outcomes --------------------------------------------------------------------------------
    def succeeded(self, channel_id: str, now: float) -> None:
        self._note(self.book.record_success(channel_id, now))

    def failed(
        self,
        channel_id: str,
        exception: BaseException,
        request_id: str | None,
        now: float,
        bench: bool = True,
    ) -> Verdict | None:
        """Count one failed attempt; None when this request's failure there was already counted.
        `bench=False`: the attempt is the request's, but not held against the channel's breaker."""
        if request_id and any(cid == channel_id for cid, _ in self.attempts_for(request_id).failures):
            return None
        verdict = classify_exception(exception, now)
        verdict = Verdict(
            verdict.kind,
            verdict.reason,
            verdict.status,
            verdict.retry_at,
            mask_secrets(verdict.message, self.secrets),
        )
        if not bench:
            if request_id:
                self.attempts_for(request_id).failures.append((channel_id, verdict))
            return verdict
        transition = self.book.record_failure(channel_id, self.fingerprints.get(channel_id), verdict, now)
        self._dirty_breakers.add(channel_id)
        if verdict.kind is ErrorKind.PERMANENT and (fingerprint := self.fingerprints.get(channel_id)):
            self._dirty_keys[fingerprint] = {
                "disabled": True,
                **self.book.disabled_keys[fingerprint],
                "updated_at": now,
            }
        self._note(transition, verdict)
        if request_id:
            self.attempts_for(request_id).failures.append((channel_id, verdict))
        return verdict

    def attempts_for(self, request_id: str) -> Attempts:
        attempts = self.requests.get(request_id)
        if attempts is None:
            attempts = self.requests[request_id] = Attempts()
            while len(self.requests) > MAX_TRACKED_REQUESTS:
                self.requests.popitem(last=False)
        return attempts

    def finish(self, request_id: str | None) -> Attempts:
        return (self.requests.pop(request_id, None) if request_id else None) or Attempts()

    # -- admin -----------------------------------------------------------------------------------
    def enable(self, channel_id: str, now: float) -> None:
        fingerprint = self.fingerprints.get(channel_id)
        self.book.enable(channel_id, fingerprint, now)
        if fingerprint:
            self._dirty_keys[fingerprint] = {"disabled": False, "updated_at": now}
        self._dirty_breakers.add(channel_id)

    def disable(self, channel_id: str, now: float) -> None:
        self.book.disable(channel_id, now)
        self._dirty_breakers.add(channel_id)

    def reset(self, channel_id: str, now: float) -> None:
        self.book.reset(channel_id, now)
        self._dirty_breakers.add(channel_id)

    def describe(self, channel_id: str, now: float) -> dict[str, Any]:
        b = self.book.breakers.get(channel_id) or Breaker()
        fingerprint = self.fingerprints.get(channel_id)
        state = b.state
        if self.book.key_disabled(fingerprint) and state != DISABLED:
            state = DISABLED
        reopen = b.reopen_at if state == OPEN and b.reopen_at > now else None
        return {
            "state": state,
            "consecutive_failures": b.consecutive_failures,
            "reopen_at": reopen,
            "last_error_class": b.last_error_kind,
            "last_error_reason": b.last_error_reason,
            "last_error": mask_secrets(b.last_error_message or "", self.secrets) or None,
            "last_error_at": b.last_error_at,
            "key_fingerprint": fingerprint,
            "key_disabled": self.book.key_disabled(fingerprint),
        }

    # -- background: recovery probes and shared state -----------------------------------------
    def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._probe_loop()), loop.create_task(self._sync_loop())]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def _probe_loop(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            while True:
                await asyncio.sleep(self.settings.probe_interval_s)
                try:
                    await self.probe_due(client, time.time())
                except Exception:  # a probe bug must not end recovery for good
                    log.exception("smart-router: recovery probe round failed")

    async def probe_due(self, client: httpx.AsyncClient, now: float) -> list[str]:
        """Probe every open breaker whose cooldown has passed, with `GET /models` (no tokens)."""
        due = [cid for cid, b in list(self.book.breakers.items()) if b.state == OPEN and now >= b.reopen_at]
        probed = []
        for channel_id in due:
            endpoint = self.endpoints.get(channel_id)
            if endpoint is None or not endpoint.api_base:
                continue  # no address to probe: a user request will be the half-open probe
            self.book.on_dispatch(channel_id, now)
            headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
            if endpoint.provider == "anthropic" and endpoint.api_key:
                headers = {"x-api-key": endpoint.api_key, "anthropic-version": "2023-06-01"}
            try:
                response = await client.get(endpoint.api_base.rstrip("/") + "/models", headers=headers)
            except httpx.HTTPError as error:
                verdict = classify_error(None, type(error).__name__, {}, now)
            else:
                if response.status_code < 400:
                    self._note(self.book.record_success(channel_id, time.time()))
                    self._dirty_breakers.add(channel_id)
                    probed.append(channel_id)
                    continue
                verdict = classify_error(response.status_code, response.text, dict(response.headers), now)
            if verdict.kind is ErrorKind.CALLER:  # e.g. no /models route: do not count it against the channel
                verdict = Verdict(ErrorKind.TEMPORARY, "probe_failed", verdict.status, None, verdict.message)
            self._note(
                self.book.record_failure(channel_id, self.fingerprints.get(channel_id), verdict, time.time())
            )
            self._dirty_breakers.add(channel_id)
            probed.append(channel_id)
        return probed

    async def _sync_loop(self) -> None:
        if not self.shared.shared:
            return
        while True:
            try:
                await self.sync_once(time.time())
            except Exception:  # never let a sync bug stop the loop
                log.exception("smart-router: shared-state sync failed")
            await asyncio.sleep(self.settings.sync_interval_s)

    async def sync_once(self, now: float) -> None:
        # Taken, not read: a change made while the push is in flight stays for the next push
        # (clearing after the await lost one: seen as a spent window that never reached a replica).
        dirty_breakers, self._dirty_breakers = self._dirty_breakers, set()
        dirty_keys, self._dirty_keys = self._dirty_keys, {}
        changes = Snapshot(
            breakers={cid: self.book.breaker(cid).to_record() for cid in dirty_breakers},
            disabled_keys=dict(dirty_keys),
        )
        if self.routing_state.updated_at > self._strategy_pushed_at:
            changes.strategy = {
                "name": self.routing_state.active,
                "updated_at": self.routing_state.updated_at,
            }
        windows = self.windows
        dirty_windows: set[str] = set()
        if windows is not None and windows.book.dirty:
            dirty_windows, windows.book.dirty = windows.book.dirty, set()
            changes.windows = windows.book.export(dirty_windows, now)
        if windows is not None and windows.book.cap_dirty:
            changes.cap_use = windows.book.take_cap_use(now)
        if self.feedback is not None:
            changes.feedback = self.feedback.take_pending()
        if (
            changes.breakers
            or changes.disabled_keys
            or changes.strategy
            or changes.windows
            or changes.cap_use
            or changes.feedback
        ):
            if not await self.shared.push(changes):
                # kept dirty: pushed when Redis is back (newer local changes win)
                self._dirty_breakers |= dirty_breakers
                self._dirty_keys = {**dirty_keys, **self._dirty_keys}
                if windows is not None:
                    windows.book.dirty |= dirty_windows
                    windows.book.give_back_cap_use(changes.cap_use)
                if self.feedback is not None:
                    self.feedback.give_back(changes.feedback)
                return
            if changes.strategy:
                self._strategy_pushed_at = changes.strategy["updated_at"]
        remote = await self.shared.pull(windows.book.cap_window_starts(now) if windows is not None else None)
        if remote is not None:
            self.merge(remote)

    def merge(self, remote: Snapshot) -> None:
        for channel_id, record in remote.breakers.items():
            local = self.book.breakers.get(channel_id)
            if channel_id in self._dirty_breakers:
                continue
            if local is None or float(record.get("updated_at") or 0) > local.updated_at:
                self.book.breakers[channel_id] = Breaker.from_record(record)
                self.book.version += 1
        for fingerprint, record in remote.disabled_keys.items():
            if fingerprint in self._dirty_keys:
                continue
            local_at = float((self.book.disabled_keys.get(fingerprint) or {}).get("at") or 0)
            if record.get("disabled"):
                if fingerprint not in self.book.disabled_keys:
                    self.book.disabled_keys[fingerprint] = {
                        "reason": record.get("reason"),
                        "message": record.get("message"),
                        "at": record.get("at"),
                    }
            elif fingerprint in self.book.disabled_keys and float(record.get("updated_at") or 0) > local_at:
                del self.book.disabled_keys[fingerprint]
        if self.windows is not None:
            for channel_id, shared in remote.windows.items():
                if channel_id not in self.windows.book.dirty and isinstance(shared, dict):
                    self.windows.merged(channel_id, shared)
            if remote.cap_use:
                self.windows.merged_caps(remote.cap_use)
        if self.feedback is not None:
            self.feedback.merged(remote.feedback)
        if remote.strategy and float(remote.strategy.get("updated_at") or 0) > self.routing_state.updated_at:
            self.routing_state.adopt(str(remote.strategy["name"]), float(remote.strategy["updated_at"]))
            self._strategy_pushed_at = self.routing_state.updated_at

    def _note(self, transition: Transition | None, verdict: Verdict | None = None) -> None:
        if transition is None:
            return
        self._dirty_breakers.add(transition.channel_id)
        detail = f" ({verdict.kind.value}: {verdict.reason})" if verdict else ""
        log.warning(
            "smart-router: channel %s %s -> %s%s",
            transition.channel_id,
            transition.before,
            transition.after,
            detail,
        )


SDK_CONNECTION_ERROR = re.compile(r"Exception - Connection error\b")


def classify_exception(exception: BaseException, now: float) -> Verdict:
    """Classify a LiteLLM-mapped exception by the upstream status, body and headers it carries."""
    made_up = bool(getattr(exception, "status_code_is_synthesized", False))
    cause = exception.__cause__ or exception.__context__
    if made_up and cause is not None:
        # LiteLLM's pass-through gives an upstream that never answered (a timeout, a dropped
        # connection, a stream broken before its first frame) a made-up 500: what happened is
        # the exception it was raised from.
        return classify_exception(cause, now)
    status = getattr(exception, "status_code", None)
    body = getattr(exception, "body", None)
    message = str(getattr(exception, "message", "") or exception)
    headers = getattr(exception, "litellm_response_headers", None)
    response: Any = getattr(exception, "response", None)
    if headers is None:
        headers = getattr(response, "headers", None)
    if status is None and isinstance(getattr(response, "status_code", None), int):
        # a relayed stream's upstream answer (httpx.HTTPStatusError): its status and body as sent
        status, body = response.status_code, _body_of(response)
    name = type(exception).__name__
    if isinstance(exception, httpx.TimeoutException):  # a relayed stream's upstream, unwrapped
        name = "Timeout"
    if name in ("APIConnectionError", "Timeout") or isinstance(
        exception, (TimeoutError, ConnectionError, httpx.TransportError)
    ):
        status = 408 if name == "Timeout" else None
    elif made_up or (body is None and SDK_CONNECTION_ERROR.search(message)):
        # A 500 LiteLLM made up for an upstream that never answered (the OpenAI SDK's connection
        # error gets `getattr(e, "status_code", 500)`): not a server error of the upstream's.
        status = None
    text = message if body is None else f"{message} {body if isinstance(body, str) else ''}"
    parsed_body: Any = body if isinstance(body, Mapping) else text
    if isinstance(parsed_body, Mapping) and "error" not in parsed_body:
        parsed_body = {"error": parsed_body}
    return _with_message(
        classify_error(int(status) if isinstance(status, int) else None, parsed_body, _headers(headers), now),
        text,
    )


def _body_of(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:  # read, but not JSON
        return response.text
    except RuntimeError:  # a stream never read: the status alone decides
        return None


def _headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    try:
        return {str(k): str(v) for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return {}


def _with_message(verdict: Verdict, message: str) -> Verdict:
    return Verdict(verdict.kind, verdict.reason, verdict.status, verdict.retry_at, message[:500])
