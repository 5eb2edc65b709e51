"""The installed LiteLLM's version, read from its package metadata (no import of LiteLLM)."""

from __future__ import annotations

import functools
import re
from importlib import metadata

# The versions the whole suite ran on (make test, make compat). Others may work: features check
# what they need at start and switch off when it is missing.
CHECKED_VERSIONS = ("1.108.7", "1.110.2")
# LiteLLM's command line, run as a module (what its `litellm` script runs; checked on both versions)
PROXY_CLI_MODULE = "litellm.proxy.proxy_cli"


@functools.cache
def litellm_version() -> str:
    try:
        return metadata.version("litellm")
    except metadata.PackageNotFoundError:
        return "not installed"


def version_tuple(version: str | None = None) -> tuple[int, ...]:
    parts = []
    for part in (version or litellm_version()).split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:  # "0rc1": a pre-release of 0
            break
    return tuple(parts)
