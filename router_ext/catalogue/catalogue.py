"""The tag index of the running Router, rebuilt only when its deployment list changes."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from catalog.index import TagIndex
from router_ext.catalogue.channels import api_key, channels_from_model_list
from router_ext.state.channel_health import Endpoint

log = logging.getLogger("smart_router")


class Catalogue:
    def __init__(self) -> None:
        self._index = TagIndex([])
        self._fingerprint: tuple[int, int] | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.generation = 0  # bumped on every rebuild

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
        channel_id = str((deployment.get("model_info") or {}).get("id") or "")
        position = index.position_by_id.get(channel_id)
        if position is None:
            continue
        endpoints[channel_id] = Endpoint(
            api_base=(deployment.get("litellm_params") or {}).get("api_base"),
            api_key=api_key(deployment),
            provider=index.channels[position].provider,
        )
    return endpoints
