"""Scenario rules (`smart_router.rules`): what claude-code-router users set up by hand.

An agent keeps its own model names; a rule sends its background (haiku-class) calls to
`auto:cheap`, long contexts to a large-context tag, thinking to a reasoning tag. Rules are tried
in order; the first whose every condition holds rewrites the requested model to its `route`
(a virtual name) and / or sets the strategy. What a client key may use still narrows the result.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.index import TagIndex
from catalog.query import TagQueryError
from catalog.virtual import RouteSpec, resolve_virtual_name
from router_ext.litellm_seam.request_data import request_headers
from router_ext.settings import RuleSettings, SettingsError
from strategies.base import RequestFacts


@dataclass(frozen=True, slots=True)
class Rule:
    settings: RuleSettings

    @property
    def name(self) -> str:
        return self.settings.name

    def matches(
        self, model: str, facts: RequestFacts, headers: Mapping[str, str], client_key: str | None
    ) -> bool:
        m = self.settings.match
        if m.model is not None and not _any_glob(model, m.model):
            return False
        if m.endpoint is not None and facts.endpoint not in _listed(m.endpoint):
            return False
        if m.prompt_tokens_over is not None and facts.prompt_tokens <= m.prompt_tokens_over:
            return False
        if m.tools is not None and facts.needs_tools != m.tools:
            return False
        if m.tool is not None and not any(
            fnmatch.fnmatch(n.lower(), m.tool.lower()) for n in facts.tool_names
        ):
            return False
        if m.images is not None and facts.needs_vision != m.images:
            return False
        if m.thinking is not None and facts.thinking != m.thinking:
            return False
        if m.complexity is not None and (
            facts.difficulty is None or facts.difficulty.tier not in _listed(m.complexity)
        ):
            return False
        if m.kind is not None and (facts.difficulty is None or facts.difficulty.kind not in _listed(m.kind)):
            return False
        for name, pattern in (m.header or {}).items():
            if not fnmatch.fnmatch(headers.get(name.lower(), ""), pattern):
                return False
        return m.client_key is None or (client_key is not None and _any_glob(client_key, m.client_key))


class Rules:
    def __init__(self, rules: Sequence[RuleSettings]) -> None:
        self.rules = [Rule(r) for r in rules]

    def first_match(
        self, model: Any, facts: RequestFacts, data: Mapping[str, Any], client_key: str | None
    ) -> Rule | None:
        if not self.rules or not isinstance(model, str):
            return None
        headers = request_headers(data)
        return next((r for r in self.rules if r.matches(model, facts, headers, client_key)), None)


def validate_rules(
    rules: Sequence[RuleSettings],
    virtual_models: Mapping[str, RouteSpec],
    strategies: Sequence[str],
    index: TagIndex | None,
    growing: bool,
) -> None:
    """A start-up error naming the rule: a route that is no virtual name, names an unknown virtual
    model or strategy, or (with `index`, the configured channels) matches no channel at all —
    unless wildcard channels may list more later (`growing`)."""
    for position, rule in enumerate(rules):
        where = f"smart_router.rules[{position}] ({rule.name!r})"
        if rule.route is None and rule.strategy is None:
            raise SettingsError(f"{where}: give a route (a virtual name) or a strategy, or both")
        if rule.strategy is not None and rule.strategy.lower() not in strategies:
            raise SettingsError(
                f"{where}.strategy: unknown strategy {rule.strategy!r}; valid strategies: {', '.join(sorted(strategies))}"
            )
        if rule.route is None:
            continue
        try:
            spec = resolve_virtual_name(rule.route, virtual_models)
        except TagQueryError as error:
            raise SettingsError(f"{where}.route: {error}") from None
        if spec is None:
            raise SettingsError(
                f"{where}.route: {rule.route!r} is not a virtual name: use a tag query (tag:...), "
                f"auto, auto:free / local / cheap / fast / best, or one of smart_router.virtual_models"
            )
        if index is not None and not growing and spec.query is not None and not index.mask(spec.query).any():
            raise SettingsError(f"{where}.route: {rule.route!r} matches no configured channel")


def check_rules(document: Mapping[str, Any], settings: Any) -> None:
    """Start-up check of the rules against the config's own channels (SettingsError names the rule)."""
    if not settings.rules:
        return
    from router_ext.catalogue.channels import channels_from_model_list
    from router_ext.catalogue.discovery import wildcard_sources
    from strategies.registry import build_strategies

    model_list = [d for d in document.get("model_list") or [] if isinstance(d, Mapping)]
    listed = [
        {**d, "model_info": {"id": f"config-{i}", **dict(d.get("model_info") or {})}}
        for i, d in enumerate(model_list)
    ]
    validate_rules(
        settings.rules,
        settings.route_specs(),
        list(build_strategies(settings.strategies)),
        TagIndex(channels_from_model_list(listed)),
        growing=bool(wildcard_sources(listed)),
    )


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _any_glob(text: str, patterns: str | list[str]) -> bool:
    return any(fnmatch.fnmatch(text.lower(), p.lower()) for p in _listed(patterns))
