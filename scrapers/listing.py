"""Model listings of a channel: OpenAI-compatible `GET /v1/models` (OpenAI, Groq, OpenRouter,
SiliconFlow, LM Studio), Ollama `GET /api/tags`, Anthropic `GET /v1/models` (`x-api-key`).

Parsers are strict about shape: a channel that answers garbage raises ListingError, and the
caller keeps its last listing rather than removing every model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.sizes import parse_param_size

OPENAI = "openai"
OLLAMA = "ollama"
ANTHROPIC = "anthropic"

DEFAULT_BASES = {
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://127.0.0.1:11434",
    "ollama_chat": "http://127.0.0.1:11434",
    "lm_studio": "http://127.0.0.1:1234/v1",
}


class ListingError(ValueError):
    """The channel's answer is not a model listing."""


@dataclass(frozen=True, slots=True)
class ListedModel:
    id: str
    context_tokens: int | None = None
    params_b: float | None = None


def kind_of(provider: str) -> str:
    if provider in ("ollama", "ollama_chat"):
        return OLLAMA
    if provider == "anthropic":
        return ANTHROPIC
    return OPENAI


def listing_url(provider: str, api_base: str | None) -> str:
    base = (api_base or DEFAULT_BASES.get(provider) or DEFAULT_BASES["openai"]).rstrip("/")
    kind = kind_of(provider)
    if kind == OLLAMA:
        return base.removesuffix("/v1") + "/api/tags"
    if kind == ANTHROPIC:
        return base.removesuffix("/v1") + "/v1/models"
    return base + "/models"


def listing_headers(provider: str, api_key: str | None) -> dict[str, str]:
    if not api_key:
        return {}
    if kind_of(provider) == ANTHROPIC:
        return {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    return {"Authorization": f"Bearer {api_key}"}


def _context(entry: Mapping[str, Any]) -> int | None:
    for name in ("context_length", "context_window", "max_context_length", "contextLen"):
        value = entry.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def parse_listing(provider: str, body: Any) -> list[ListedModel]:
    if kind_of(provider) == OLLAMA:
        models = body.get("models") if isinstance(body, Mapping) else None
        if not isinstance(models, list):
            raise ListingError("not an Ollama /api/tags answer: no 'models' list")
        listed = []
        for entry in models:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                details = entry.get("details")
                details = details if isinstance(details, Mapping) else {}
                listed.append(
                    ListedModel(
                        entry["name"], None, parse_param_size(str(details.get("parameter_size") or ""))
                    )
                )
        return listed
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise ListingError("not a model listing: no 'data' list")
    listed = []
    for entry in data:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
            continue
        if entry.get("active") is False:  # Groq lists retired models as inactive
            continue
        listed.append(ListedModel(entry["id"].strip(), _context(entry)))
    return listed
