"""One API / New API channels as stored channels, for people who move here.

Their channel rows (songquanpeng/one-api `model.Channel`: `id`, `type`, `key`, `name`, `status`,
`base_url`, `models` comma-separated, `model_mapping` JSON) come as a JSON list, as One API's
`GET /api/channel/` answer (`{"data": [...]}`) or New API's paged one (`{"data": {"items": [...]}}`).
Each (channel, model) becomes one of our channels; a multi-key row (New API: one key per line)
becomes a rotation pool. The `type` numbers follow One API's `relay/channeltype/define.go`;
listings from One API's own API omit keys, so such channels come in disabled, to be given a key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# type -> (LiteLLM provider, the default base URL when the row has none; None = LiteLLM's own)
NATIVE = {
    1: ("openai", None),
    14: ("anthropic", None),
    20: ("openrouter", None),
    24: ("gemini", None),
    28: ("mistral", None),
    29: ("groq", None),
    35: ("cohere", None),
    36: ("deepseek", None),
    39: ("together_ai", None),
}
# OpenAI-compatible upstreams: `openai/` with the base URL (+ /v1, as One API appends it).
COMPATIBLE = {
    2: "https://oa.api2d.net",
    4: "https://api.closeai-proxy.xyz",
    5: "https://api.openai-sb.com",
    6: "https://api.openaimax.com",
    7: "https://api.ohmygpt.com",
    8: None,  # Custom: the row's base_url
    9: "https://api.caipacity.com",
    10: "https://api.aiproxy.io",
    12: "https://api.api2gpt.com",
    13: "https://api.aigc2d.com",
    25: "https://api.moonshot.cn",
    26: "https://api.baichuan-ai.com",
    31: "https://api.lingyiwanwu.com",
    32: "https://api.stepfun.com",
    40: "https://ark.cn-beijing.volces.com/api/v3",
    41: "https://api.novita.ai/v3/openai",
}
OLLAMA = 30


@dataclass(frozen=True)
class Imported:
    body: dict[str, Any]  # for StoredChannels.create (without the key)
    keys: list[str]
    enabled: bool


def rows_of(document: Any) -> list[dict[str, Any]] | None:
    """The channel rows of an export, or None when it is not one."""
    data = document.get("data") if isinstance(document, dict) else document
    if isinstance(data, dict):
        data = data.get("items")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        return None
    return data if all("type" in r and "models" in r for r in data) else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "model"


def convert(row: dict[str, Any]) -> tuple[list[Imported], str | None]:
    """(our channels, why the row was skipped)."""
    kind = int(row.get("type") or 0)
    base = str(row.get("base_url") or "").rstrip("/")
    if kind in NATIVE:
        provider, _ = NATIVE[kind]
        api_base = base or None
    elif kind in COMPATIBLE:
        provider = "openai"
        root = base or COMPATIBLE[kind]
        if not root:
            return [], f"channel {row.get('id')}: a custom channel without base_url"
        api_base = root if root.endswith(("/v1", "/v3", "/openai")) else f"{root}/v1"
    elif kind == OLLAMA:
        provider, api_base = "ollama_chat", base or "http://localhost:11434"
    else:
        return [], (
            f"channel {row.get('id')} ({row.get('name')}): One API type {kind} has no mapping here; "
            "add it with `smart-router channels add --model provider/model`"
        )
    try:
        mapping = json.loads(row.get("model_mapping") or "{}") or {}
    except ValueError:
        mapping = {}
    keys = [k.strip() for k in str(row.get("key") or "").splitlines() if k.strip()]
    enabled = int(row.get("status") or 1) == 1 and bool(keys or kind == OLLAMA)
    found = []
    for model in [m.strip() for m in str(row.get("models") or "").split(",") if m.strip()]:
        upstream = str(mapping.get(model) or model)
        params: dict[str, Any] = {"model": f"{provider}/{upstream}"}
        if api_base:
            params["api_base"] = api_base
        info = {"id": f"oneapi-{row.get('id')}-{_slug(model)}", "channel": str(row.get("name") or provider)}
        found.append(
            Imported(
                {"model_name": model, "litellm_params": params, "model_info": info, "enabled": enabled},
                keys,
                enabled,
            )
        )
    return found, None if found else f"channel {row.get('id')}: no models"
