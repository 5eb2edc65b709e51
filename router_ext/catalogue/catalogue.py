"""The tag index of the running Router, rebuilt only when its deployment list changes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accounting.quotas import Quota, QuotaBook
from catalog.channel import Channel
from catalog.index import TagIndex
from router_ext import deployment as shape
from router_ext.catalogue.channels import channels_from_model_list
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
    ) -> None:
        self._router = router
        self._health = health
        self._quotas = quotas
        self._index = TagIndex([])
        self._fingerprint: tuple[int, int] | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.generation = 0  # bumped on every rebuild
        self._bound = -1
        self.observations = Observations(self._index)

    def deployments(self) -> list[Any]:
        router = self._router()
        return router.model_list if router is not None else []

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
        return index

    def channel(self, deployment_id: str) -> Channel | None:
        index = self.index()
        position = index.position_by_id.get(deployment_id)
        return index.channels[position] if position is not None else None

    def index_for(self, model_list: Sequence[Mapping[str, Any]] | None) -> TagIndex:
        deployments = model_list or []
        # Identity + length is enough to notice LiteLLM adding, removing or replacing
        # deployments, and costs nothing per request; reload calls invalidate() for edits.
        fingerprint = (id(deployments), len(deployments))
        if fingerprint != self._fingerprint:
            started = time.perf_counter()
            self._index = TagIndex(channels_from_model_list(deployments))
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
