"""OpenRouter's routing fields mapped onto ours. Each only narrows or reorders what the names
asked for allow; what a client key may use still applies to every name.

- `model` + `models`: names tried in order; each is a virtual name (`tag:`, `auto:*`) or a model
  id matched against our channels (`model_name`, the upstream id, or its tail:
  `qwen/qwen3-30b-a3b:free` matches `openrouter/qwen/qwen3-30b-a3b:free`), ranked by our
  strategy inside it; their rankings are joined in that order as the failover list.
- variants: `name:free` only verified-free channels of that model, `:floor` cheapest first,
  `:nitro` fastest first, `:exacto` best first; `:online`, `:thinking`, `:extended` are dropped
  (listed in `x-router-openrouter`). A name that exists as written is never split.
- `provider.sort`: price -> cost_first, throughput / latency -> speed_optimized.
- `provider.only` / `ignore`: channel names, providers or an upstream id's vendor segment.
- `provider.max_price` (USD per million tokens): a channel priced above it, or with no known
  price, is out; `request` prices are not known here, so a request price limit excludes nothing.
- `provider.require_parameters`: only channels known to support the tools, images and
  response_format sent. `data_collection: deny` / `zdr`: only local channels and those whose
  `model_info` says `zdr: true` or `data_collection: deny`.
- `provider.order`: channels matching an entry come first, in that order;
  `allow_fallbacks: false`: the first candidate only (of those in `order` when it is given).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.query import is_tag_query
from catalog.virtual import RouteSpec
from router_ext.catalogue.catalogue import Catalogue
from router_ext.client_keys import ClientKey
from router_ext.errors import router_error
from router_ext.litellm_seam.types import ProxyException
from router_ext.openrouter.preferences import SORTS, Preferences
from router_ext.runtime.decisions import Decider
from strategies.base import Ranking, RequestFacts
from strategies.decision import Decision
from strategies.filters import HardFilter

VARIANT_STRATEGIES = {"floor": "cost_first", "nitro": "speed_optimized", "exacto": "quality_optimized"}
DROPPED_VARIANTS = ("online", "thinking", "extended")


VARIANTS = (*VARIANT_STRATEGIES, "free", *DROPPED_VARIANTS)


def has_variant(name: str) -> bool:
    """`qwen3-30b:free`, `tag:qwen:floor`, `auto:nitro`; not `tag:free` or `tag:thinking`, whose
    suffix is the tag itself. (A virtual name spelled like one, `auto:free`, is kept whole by
    `OpenRouterRouting._variant`.)"""
    base, sep, suffix = name.rpartition(":")
    return bool(sep) and suffix in VARIANTS and base.lower() not in ("tag", "tags")


def matches_model(channel: Channel, name: str) -> bool:
    low = name.lower()
    upstream = channel.upstream_model.lower()
    return channel.model_name.lower() == low or upstream == low or upstream.endswith("/" + low)


def matches_provider(channel: Channel, entry: str) -> bool:
    """`openai`, `OpenAI`, `deepinfra/turbo` (its base slug), a channel name or id."""
    low = entry.lower().split("/")[0]
    vendors = channel.upstream_model.lower().split("/")[:-1]
    return low in (channel.channel.lower(), channel.provider.lower(), channel.id.lower(), *vendors)


class OpenRouterRouting:
    def __init__(self, decider: Decider, catalogue: Catalogue) -> None:
        self.decider = decider
        self.catalogue = catalogue

    def decide(
        self,
        model: str,
        prefs: Preferences,
        data: Mapping[str, Any],
        facts: RequestFacts,
        client_key: ClientKey | None,
        strategy: str | None,
        explain: bool = False,
    ) -> tuple[Decision, dict[str, Any]]:
        """The joined decision, and what each field did (for `x-router-openrouter` and the record).
        `explain`: every candidate, and each exclusion listed."""
        index = self.catalogue.index()
        summary: dict[str, Any] = {}
        strategy = SORTS[prefs.sort] if prefs.sort else strategy
        if prefs.sort:
            summary["sort"] = f"{prefs.sort}->{strategy}"
        filters = self._provider_filters(index, prefs, data)
        decisions: list[Decision] = []
        first_error: ProxyException | None = None
        for name in dict.fromkeys([model, *prefs.models]):
            base, variant = self._variant(index, name)
            narrow = list(filters)
            chosen = VARIANT_STRATEGIES.get(variant or "") or strategy
            if variant:
                summary.setdefault("variants", []).append(f"{base}:{variant}")
            if variant == "free":
                narrow.insert(0, HardFilter("variant :free", ~index.free, "not verified free (price 0)"))
            try:
                if self.decider.is_virtual(base):
                    decision = self.decider.decide(
                        base,
                        data,
                        explain=explain,
                        facts=facts,
                        client_key=client_key,
                        strategy=chosen,
                        narrow=narrow,
                    )
                else:
                    decision = self._concrete(index, base, data, facts, client_key, chosen, narrow, explain)
            except ProxyException as error:
                if getattr(error, "code", None) in (403, "403"):
                    raise  # a name the key may not use is refused, never skipped
                first_error = first_error or error
                summary.setdefault("skipped", []).append(base)
                continue
            if decision is not None:
                decisions.append(decision)
        if not decisions:
            assert first_error is not None
            raise first_error
        joined = self._joined(decisions, prefs, summary)
        summary["candidates"] = len(joined.ranked)
        if prefs.ignored:
            summary["ignored"] = list(prefs.ignored)
        return joined, summary

    def _variant(self, index: TagIndex, name: str) -> tuple[str, str | None]:
        if not has_variant(name):
            return name, None
        base, _, suffix = name.rpartition(":")
        if is_tag_query(name):
            return base, suffix  # a tag has no ':' in it: `tag:qwen:floor` is `tag:qwen`, cheapest first
        if self.decider.is_virtual(name) or any(matches_model(c, name) for c in index.channels):
            return name, None  # it exists as written: `qwen3-30b:free` may be a channel's own id
        return base, suffix

    def _concrete(
        self,
        index: TagIndex,
        name: str,
        data: Mapping[str, Any],
        facts: RequestFacts,
        client_key: ClientKey | None,
        strategy: str | None,
        narrow: list[HardFilter],
        explain: bool = False,
    ) -> Decision | None:
        mask = np.fromiter((matches_model(c, name) for c in index.channels), dtype=np.bool_, count=index.size)
        if not mask.any():
            raise router_error(
                404,
                "model_not_found",
                f"no channel serves {name!r}: GET /api/v1/models lists the ids, or use a virtual name "
                "(auto, auto:free, tag:...)",
                param="model",
                router_status="model-not-found",
            )
        scope = HardFilter("model", ~mask, f"not {name}")
        return self.decider.decide(
            name,
            data,
            explain=explain,
            facts=facts,
            client_key=client_key,
            strategy=strategy,
            spec=RouteSpec(name),
            narrow=[scope, *narrow],
        )

    def _provider_filters(
        self, index: TagIndex, prefs: Preferences, data: Mapping[str, Any]
    ) -> list[HardFilter]:
        filters = []
        if prefs.only is not None:
            keep = self._mask(index, lambda c: any(matches_provider(c, e) for e in prefs.only or ()))
            filters.append(HardFilter("provider.only", ~keep, f"not one of {', '.join(prefs.only)}"))
        if prefs.ignore:
            drop = self._mask(index, lambda c: any(matches_provider(c, e) for e in prefs.ignore))
            filters.append(HardFilter("provider.ignore", drop, f"one of {', '.join(prefs.ignore)}"))
        price = prefs.max_price
        if price is not None and (price.prompt is not None or price.completion is not None):

            def too_dear(c: Channel) -> bool:
                for limit, per_token in (
                    (price.prompt, c.input_cost_per_token),
                    (price.completion, c.output_cost_per_token),
                ):
                    if limit is not None and (per_token is None or per_token * 1e6 > limit + 1e-12):
                        return True
                return False

            filters.append(
                HardFilter(
                    "provider.max_price",
                    self._mask(index, too_dear),
                    f"priced above (or without a known price under) prompt {price.prompt} / completion "
                    f"{price.completion} USD per million tokens",
                )
            )
        if prefs.require_parameters:
            needs = _parameters_sent(data)
            if needs:

                def unsupported(c: Channel) -> bool:
                    known = {
                        "tools": c.supports_function_calling,
                        "images": c.supports_vision,
                        "response_format": c.supports_response_schema,
                    }
                    return any(known[n] is not True for n in needs)

                filters.append(
                    HardFilter(
                        "provider.require_parameters",
                        self._mask(index, unsupported),
                        f"not known to support {', '.join(needs)}",
                    )
                )
        if prefs.data_collection == "deny" or prefs.zdr:
            keeps = self._mask(index, lambda c: not (c.local or c.keeps_no_data))
            name = "provider.zdr" if prefs.zdr else "provider.data_collection"
            filters.append(
                HardFilter(
                    name, keeps, "may keep data: neither local nor model_info zdr / data_collection: deny"
                )
            )
        return filters

    @staticmethod
    def _mask(index: TagIndex, test: Any) -> np.ndarray:
        return np.fromiter((bool(test(c)) for c in index.channels), dtype=np.bool_, count=index.size)

    @staticmethod
    def _joined(decisions: Sequence[Decision], prefs: Preferences, summary: dict[str, Any]) -> Decision:
        """Each name's ranking in turn (OpenRouter's default partition: by model), `order` applied
        inside each; `allow_fallbacks: false` keeps the first candidate."""

        def position(channel: Channel) -> int:
            return next(
                (i for i, e in enumerate(prefs.order) if matches_provider(channel, e)), len(prefs.order)
            )

        pairs: list[tuple[Channel, float]] = []
        seen: set[str] = set()
        for decision in decisions:
            ranked = list(zip(decision.ranked, decision.scores, strict=True))
            if prefs.order:
                ranked.sort(key=lambda pair: position(pair[0]))  # stable: our ranking within an entry
                if not prefs.allow_fallbacks:
                    ranked = [p for p in ranked if position(p[0]) < len(prefs.order)] or ranked
            for channel, score in ranked:
                if channel.id not in seen:
                    seen.add(channel.id)
                    pairs.append((channel, score))
        if prefs.models:
            summary["models"] = len(decisions)
        if prefs.order:
            summary["order"] = ",".join(prefs.order)
        if not prefs.allow_fallbacks:
            pairs = pairs[:1]
            summary["allow_fallbacks"] = False
        counts: dict[str, int] = {}
        for decision in decisions:
            for name, count in decision.excluded_counts.items():
                counts[name] = counts.get(name, 0) + count
        # One ranking per name, joined: per-signal values (explain's columns) belong to each
        # name's own candidates, so the joined decision keeps totals only.
        ranking = Ranking(np.asarray([], dtype=np.intp), np.asarray([s for _, s in pairs]), {})
        return dataclasses.replace(
            decisions[0],
            ranked=tuple(c for c, _ in pairs),
            scores=tuple(s for _, s in pairs),
            eligible=sum(d.eligible for d in decisions),
            excluded=tuple(e for d in decisions for e in d.excluded),
            excluded_counts=counts,
            ranking=ranking
            if len(decisions) > 1 or prefs.order or not prefs.allow_fallbacks
            else decisions[0].ranking,
        )


def _parameters_sent(data: Mapping[str, Any]) -> list[str]:
    sent = []
    if data.get("tools") or data.get("functions"):
        sent.append("tools")
    messages = data.get("messages")
    if isinstance(messages, list) and any(
        isinstance(m, Mapping)
        and isinstance(m.get("content"), list)
        and any(
            isinstance(p, Mapping) and p.get("type") in ("image_url", "input_image", "image")
            for p in m["content"]
        )
        for m in messages
    ):
        sent.append("images")
    if isinstance(data.get("response_format"), Mapping) and data["response_format"].get("type") != "text":
        sent.append("response_format")
    return sent
