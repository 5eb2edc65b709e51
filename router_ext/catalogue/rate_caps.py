"""The configured rate caps of each deployment (router_ext/settings.py `LimitSettings`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from accounting.rate_limits import Cap
from router_ext import deployment as shape
from router_ext.settings import LimitSettings, RateCaps

PERIODS = {"rpm": ("requests", 60.0), "rpd": ("requests", 86_400.0), "tpm": ("tokens", 60.0)}


def _own(deployment: Mapping[str, Any]) -> RateCaps | None:
    info, params = shape.info(deployment), shape.params(deployment)
    found = {k: info.get(k, params.get(k)) for k in PERIODS}
    found = {k: int(v) for k, v in found.items() if isinstance(v, (int, float)) and v > 0}
    return RateCaps(**found) if found else None


def caps_of(
    deployments: Iterable[Mapping[str, Any]],
    settings: LimitSettings,
    free_per_day: Mapping[str, int] | None = None,
) -> dict[str, list[Cap]]:
    """`free_per_day`: OpenRouter's daily free cap per deployment, as its key endpoint said
    (1,000 once the account bought credits)."""
    out: dict[str, list[Cap]] = {}
    for deployment in deployments:
        deployment_id = str(shape.deployment_id(deployment) or "")
        provider = shape.provider(deployment)
        caps = _own(deployment) or settings.channels.get(deployment_id) or settings.providers.get(provider)
        if caps is None and provider == "openrouter" and shape.upstream_model(deployment).endswith(":free"):
            caps = settings.openrouter_free
            known = (free_per_day or {}).get(deployment_id)
            if known is not None and "openrouter_free" not in settings.model_fields_set:
                caps = caps.model_copy(update={"rpd": known})
        if caps is None:
            continue
        found = [
            Cap(kind, int(value), period)
            for name, (kind, period) in PERIODS.items()
            if (value := getattr(caps, name)) is not None
        ]
        if found:
            out[deployment_id] = found
    return out
