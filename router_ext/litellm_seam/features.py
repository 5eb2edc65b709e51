"""Features that stand on LiteLLM internals, switched on or off once at start.

Each feature names what it does for users and what it needs (internals.py). When something is
missing or has changed shape, the feature is off, one log line says which LiteLLM version, which
feature and why, and requests take LiteLLM's own path: never a per-request error because LiteLLM
changed. What smart-router cannot run without (CORE) is a start-up error that says what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router_ext.litellm_seam.internals import CORE, INTERNALS, hidden_internals
from router_ext.litellm_seam.version import CHECKED_VERSIONS, litellm_version

log = logging.getLogger("smart_router")

# feature -> what is lost when it is off (what LiteLLM's own path does instead)
FEATURES: dict[str, str] = {
    "relay": "streamed chat from OpenAI-compatible channels relayed as bytes "
    "(off: LiteLLM parses and re-encodes every chunk)",
    "body_guard": "a 400 naming the field for bodies LiteLLM's auth answers with a 500",
    "messages_errors": "our 503 all_channels_failed in Anthropic's error shape on /v1/messages "
    "(off: LiteLLM's answer for the last channel's error)",
    "virtual_model_listing": "virtual names (auto, tag:..., rules) listed in GET /v1/models",
    "messages_via_chat": "Anthropic Messages to OpenAI-compatible channels through chat completions "
    "(off: LiteLLM's default, the upstream's Responses API)",
    "shutdown_hook": "records and state flushed when the proxy stops",
    "hedged_races": "hedged Messages and Responses streams raced from the call's start, so an upstream late "
    "before its headers is hedged too (off: those streams are not hedged; chat still is)",
    "worker_sockets": "serve --workers N: a socket per worker, balanced by the kernel",
}


class LiteLLMIncompatible(RuntimeError):
    """Something smart-router cannot run without is missing from the installed LiteLLM."""


@dataclass
class FeatureReport:
    version: str
    off: dict[str, str] = field(default_factory=dict)  # feature -> why

    def on(self, feature: str) -> bool:
        return feature not in self.off

    def enabled(self) -> list[str]:
        return [name for name in FEATURES if name not in self.off]

    def as_dict(self) -> dict[str, Any]:
        return {
            "litellm_version": self.version,
            "checked_versions": list(CHECKED_VERSIONS),
            "features": {
                name: {
                    "on": name not in self.off,
                    "what": what,
                    **({"why_off": self.off[name]} if name in self.off else {}),
                }
                for name, what in FEATURES.items()
            },
        }


_report: FeatureReport | None = None


def check_features(environ: Mapping[str, str] | None = None) -> FeatureReport:
    """Probe every internal once; the report is kept for the process."""
    global _report
    if _report is None:
        _report = probe(environ if environ is not None else os.environ)
        _log(_report)
    return _report


def probe(environ: Mapping[str, str]) -> FeatureReport:
    hidden = hidden_internals(dict(environ))
    report = FeatureReport(litellm_version())
    broken_core = []
    for internal in INTERNALS:
        why = internal.probe(hidden)
        if why is None:
            continue
        for feature in internal.used_by:
            if feature == CORE:
                broken_core.append(why)
            else:
                report.off.setdefault(feature, why)
    if broken_core:
        raise LiteLLMIncompatible(
            f"LiteLLM {report.version} lacks what smart-router needs: {'; '.join(broken_core)}. "
            f"Install a LiteLLM smart-router was checked with ({', '.join(CHECKED_VERSIONS)})"
        )
    return report


def _log(report: FeatureReport) -> None:
    log.info(
        "smart-router: LiteLLM %s; features on: %s", report.version, ", ".join(report.enabled()) or "none"
    )
    for feature, why in report.off.items():
        log.warning(
            "smart-router: LiteLLM %s: %s is off (%s); requests take LiteLLM's own path",
            report.version,
            feature,
            why,
        )


def feature_on(feature: str) -> bool:
    return check_features().on(feature)


def reset_for_tests() -> None:
    global _report
    _report = None
