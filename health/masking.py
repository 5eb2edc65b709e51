"""Secrets never leave the process: mask keys in error texts, show fingerprints instead."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable

_SECRET_PATTERNS = re.compile(
    # `_` too: Groq's keys are `gsk_...`; a word boundary keeps `disk_usage` or `task-id` as they are.
    r"\b(?:sk|pk|rk|gsk|xai|sk-or-v1|sk-ant-api\d\d)[-_][A-Za-z0-9_\-]{6,}"
    r"|Bearer\s+[A-Za-z0-9._\-]{8,}"
    r"|AIza[0-9A-Za-z_\-]{20,}",
)


@functools.lru_cache(maxsize=4096)  # many channels share a key: one fingerprint string for all
def key_fingerprint(api_key: str | None) -> str | None:
    """A stable, non-reversible id for a key: `fp-` + 12 hex digits of its SHA-256."""
    if not api_key:
        return None
    return "fp-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def mask_secrets(text: str, known: Iterable[str] = ()) -> str:
    for secret in known:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, key_fingerprint(secret) or "***")
    return _SECRET_PATTERNS.sub(lambda m: m.group(0)[:3] + "***", text)
