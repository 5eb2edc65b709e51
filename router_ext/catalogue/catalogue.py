"""The tag index of the running Router, rebuilt only when its deployment list changes."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accounting.quotas import Quota, QuotaBook
from accounting.rate_limits import LimitBook
from catalog.channel import Channel
from catalog.index import TagIndex
from router_ext import deployment as shape
from router_ext.catalogue.channels import channels_from_model_list, local_token_count_fields
from router_ext.catalogue.rate_caps import caps_of
from router_ext.litellm_seam import router_registry
from router_ext.settings import LimitSettings
from router_ext.state.channel_health import ChannelHealth, Endpoint
from strategies.observations import Observations

log = logging.getLogger("smart_router")


class Catalogue:
    """The running Router's deployments as a tag index, with what is kept per channel
    (observations, health endpoints, quotas) rebound whenever the index is rebuilt."""

    def __init__(
        self,
        router: Callable[[], Any],
        health: ChannelHealth | None = None,
        quotas: QuotaBook | None = None,
        limits: LimitBook | None = None,
        limit_settings: LimitSettings | None = None,
    ) -> None:
        self._router = router
        self._health = health
        self._quotas = quotas
        self._limits = limits
        self._limit_settings = limit_settings or LimitSettings()
        self.free_per_day: dict[
            str, int
        ] = {}  # OpenRouter's daily free cap per deployment, from its key endpoint
        self._index = TagIndex([])
        self._fingerprint: tuple[int, int, int | None] | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.generation = 0  # bumped on every rebuild
        self._bound = -1
        self.observations = Observations(self._index)
        self.missing: set[tuple[str, str]] = set()  # (channel id, endpoint) the upstream has no path for
        self._by_name: dict[str, list[Channel]] = {}

    def deployments(self) -> Sequence[Mapping[str, Any]]:
        return router_registry.deployments(self._router())

    def index(self) -> TagIndex:
        index = self.index_for(self.deployments())
        if self.generation != self._bound:
            self._bound = self.generation
            self.observations = self.observations.rebind(index)
            if self._health is not None:
                self._health.learn_endpoints(index, self.endpoints)
            if self._quotas is not None:
                self._quotas.set_quotas(
                    {c.id: Quota(c.daily_request_quota, c.daily_token_quota) for c in index.channels}
                )
            self.refresh_caps()
        return index

    def refresh_caps(self) -> None:
        if self._limits is not None:
            self._limits.set_caps(caps_of(self.deployments(), self._limit_settings, self.free_per_day))

    def named(self, model_name: str) -> list[Channel]:
        """The channels of a plain model name (its LiteLLM model group)."""
        self.index()
        return self._by_name.get(model_name, [])

    def lacks(self, channel_id: str, endpoint: str) -> None:
        """The channel's upstream answered "no such path" for this endpoint: Responses and
        Messages are bridged through chat completions from now on, embeddings not asked for."""
        if (channel_id, endpoint) in self.missing:
            return
        self.missing.add((channel_id, endpoint))
        deployment = shape.ids(self.deployments()).get(channel_id)
        info = shape.info(deployment) if deployment is not None else None
        declared = info.get("supported_endpoints") if isinstance(info, dict) else None
        if isinstance(info, Mapping) and isinstance(declared, list):
            # LiteLLM reads this per call: without the path it calls the channel's chat completions.
            router_registry.update_model_info(
                self._router(),
                {channel_id: {"supported_endpoints": [p for p in declared if p != f"/v1/{endpoint}"]}},
            )
        log.warning(
            "smart-router: %s has no %s endpoint upstream; %s",
            channel_id,
            endpoint,
            "bridging through chat completions from now on"
            if endpoint in ("responses", "messages")
            else "not asked again",
        )
        self.invalidate()

    def channel(self, deployment_id: str) -> Channel | None:
        index = self.index()
        position = index.position_by_id.get(deployment_id)
        return index.channels[position] if position is not None else None

    def index_for(self, model_list: Sequence[Mapping[str, Any]] | None) -> TagIndex:
        deployments = model_list or []
        # Identity + length (+ the registry's version where the Router keeps one: its list is
        # always the same object) notices LiteLLM adding, removing or replacing deployments at no
        # cost per request; reload calls invalidate() for edits.
        fingerprint = (id(deployments), len(deployments), router_registry.version(self._router()))
        if fingerprint != self._fingerprint:
            started = time.perf_counter()
            channels = channels_from_model_list(deployments)
            framing = {
                str(shape.deployment_id(d)): fields
                for d in deployments
                if (fields := local_token_count_fields(d))
            }
            if framing and model_list is self.deployments():
                router_registry.update_model_info(self._router(), framing)  # one write for all
            if self.missing:
                channels = [self._without_missing(c) for c in channels]
            self._index = TagIndex(channels)
            self._by_name = {}
            for built in channels:
                self._by_name.setdefault(built.model_name, []).append(built)
            self.endpoints = _endpoints(deployments, self._index)
            self._fingerprint = fingerprint
            self.generation += 1
            log.info(
                "smart-router: indexed %d channels, %d tags in %.1f ms",
                self._index.size,
                self._index.tag_count,
                (time.perf_counter() - started) * 1000,
            )
        return self._index

    def invalidate(self) -> None:
        self._fingerprint = None

    def _without_missing(self, channel: Channel) -> Channel:
        kept = tuple(api for api in channel.native_apis if (channel.id, api) not in self.missing)
        return channel if kept == channel.native_apis else dataclasses.replace(channel, native_apis=kept)


def _endpoints(deployments: Sequence[Mapping[str, Any]], index: TagIndex) -> dict[str, Endpoint]:
    endpoints = {}
    for deployment in deployments:
        channel_id = shape.deployment_id(deployment) or ""
        position = index.position_by_id.get(channel_id)
        if position is None:
            continue
        endpoints[channel_id] = Endpoint(
            api_base=shape.api_base(deployment),
            api_key=shape.api_key(deployment),
            provider=index.channels[position].provider,
        )
    return endpoints
