"""Our settings: the `smart_router:` section of the LiteLLM config, parsed once at start-up.

Unknown keys are start-up errors that name the key; nothing in our section is silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.query import TagQueryError, parse_tag_query
from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec

SECTION = "smart_router"


class SettingsError(ValueError):
    """The `smart_router:` section is invalid; the message names the key and what to fix."""


class VirtualModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, description="tag query selecting the channels, e.g. 'tag:coder,>=30b'")
    strategy: str | None = Field(None, description="strategy ranking them; default: the active one")
    free_only: bool = False
    local_only: bool = False
    description: str = ""

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_tag_query(value)  # TagQueryError is a ValueError: pydantic reports it with the key
        return value


class RouterSettings(BaseModel):
    """Everything under `smart_router:` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("balanced", description="strategy used when a request names none")
    max_candidates: int = Field(5, ge=1, le=50, description="ranked channels kept per request for failover")
    default_max_tokens: int = Field(
        512, ge=1, description="expected output tokens when a request sets no max_tokens"
    )
    virtual_models: dict[str, VirtualModelSettings] = Field(default_factory=dict)
    strategies: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="extra strategies: name -> {signal: weight}"
    )

    def route_specs(self) -> dict[str, RouteSpec]:
        return {
            name.lower(): RouteSpec(
                name=name,
                query=parse_tag_query(v.query) if v.query else None,
                strategy=v.strategy,
                free_only=v.free_only,
                local_only=v.local_only,
                description=v.description,
            )
            for name, v in self.virtual_models.items()
        }


def parse_settings(section: Mapping[str, Any] | None) -> RouterSettings:
    if section is None:
        return RouterSettings()
    if not isinstance(section, Mapping):
        raise SettingsError(f"{SECTION}: must be a mapping of settings, got {type(section).__name__}")
    try:
        settings = RouterSettings.model_validate(dict(section))
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except TagQueryError as error:
        raise SettingsError(f"{SECTION}.virtual_models: {error}") from None
    for name in settings.virtual_models:
        if name.lower() in BUILTIN_VIRTUAL_MODELS or name.lower().startswith(("tag:", "tags:")):
            raise SettingsError(
                f"{SECTION}.virtual_models.{name}: this name is reserved; choose another "
                f"(built-ins: {', '.join(BUILTIN_VIRTUAL_MODELS)})"
            )
    return settings


def load_settings(config_path: str | Path | None) -> RouterSettings:
    if not config_path:
        return RouterSettings()
    with open(config_path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    if not isinstance(document, Mapping):
        raise SettingsError(f"{config_path}: the config must be a YAML mapping")
    return parse_settings(document.get(SECTION))


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (SECTION, *item["loc"]))
        if item["type"] == "extra_forbidden":
            model = VirtualModelSettings if item["loc"][0] == "virtual_models" else RouterSettings
            known = ", ".join(model.model_fields)
            problems.append(f"{where}: unknown setting (known settings: {known})")
        else:
            problems.append(f"{where}: {item['msg']}")
    return "invalid smart_router settings: " + "; ".join(problems)
