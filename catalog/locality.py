"""Is an endpoint local? Loopback, private networks and the default Ollama / LM Studio ports."""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

LOCAL_RUNTIME_PORTS = frozenset({11434, 1234})  # Ollama, LM Studio
LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat", "lm_studio"})
_LOCAL_HOSTNAMES = frozenset({"localhost", "host.docker.internal"})


@functools.lru_cache(maxsize=1024)  # thousands of channels share a handful of endpoints
def is_local_endpoint(api_base: str | None, provider: str = "") -> bool:
    if provider in LOCAL_PROVIDERS and not api_base:
        return True  # LiteLLM's default base for these providers is localhost
    if not api_base:
        return False
    parts = urlsplit(api_base if "//" in api_base else f"//{api_base}")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port in LOCAL_RUNTIME_PORTS or host in _LOCAL_HOSTNAMES or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
