"""The config actually served: the user's YAML minus channels whose key is not set.

The default config lists every provider we know; a channel whose `api_key` names an unset
environment variable (`os.environ/GROQ_API_KEY`) is left out with a note, so the proxy starts
cleanly with no keys at all. Offline settings LiteLLM needs are filled in when absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router_ext import deployment as shape

ENV_PREFIX = "os.environ/"
RENDERED_ENV = "SMART_ROUTER_RENDERED_CONFIG"  # the file `serve` handed to LiteLLM
SECTIONS_ENV = "SMART_ROUTER_CONFIG_SECTIONS"  # a JSON file: what the runtime reads of that config
CUSTOM_AUTH = "router_ext.client_auth.user_api_key_auth"


@dataclass
class LaunchConfig:
    document: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)  # model_name -> missing variable


def missing_env_var(deployment: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    params = shape.params(deployment)
    for key in ("api_key", "api_base"):
        value = params.get(key)
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value[len(ENV_PREFIX) :]
            if not environ.get(name):
                return name
    return None


def prepare_launch_config(document: Mapping[str, Any], environ: Mapping[str, str]) -> LaunchConfig:
    config = dict(document)
    kept, skipped = [], {}
    for deployment in config.get("model_list") or []:
        missing = missing_env_var(deployment, environ) if isinstance(deployment, Mapping) else None
        if missing:
            skipped[str(deployment.get("model_name"))] = missing
        else:
            kept.append(deployment)
    config["model_list"] = kept
    settings = dict(config.get("litellm_settings") or {})
    settings.setdefault("disable_hf_tokenizer_download", True)
    callbacks = list(settings.get("callbacks") or [])
    if not any("router_ext.hook" in str(c) for c in callbacks):
        callbacks.append("router_ext.hook.proxy_handler")
    settings["callbacks"] = callbacks
    config["litellm_settings"] = settings
    general = dict(config.get("general_settings") or {})
    # Client keys (ours) stand in for LiteLLM's virtual keys, which need its database.
    if "custom_auth" not in general and not environ.get("DATABASE_URL") and not general.get("database_url"):
        general["custom_auth"] = CUSTOM_AUTH
    config["general_settings"] = general
    router = dict(config.get("router_settings") or {})
    # Our breakers and failover replace LiteLLM's cooldowns and same-deployment retries.
    router.setdefault("disable_cooldowns", True)
    router.setdefault("num_retries", 0)
    config["router_settings"] = router
    return LaunchConfig(config, skipped)
