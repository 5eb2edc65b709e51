"""The short block `smart-router serve` prints once the proxy answers: its URL, the dashboard's,
where the admin key is (never the key), how many channels are on and, with none that reaches a
provider, the one next step.

`serve` composes it while it still has the config (`ready_block`) and leaves it in its private
folder; the supervisor (router_ext/supervise.py) prints it when the proxy first answers its
liveness check (router_ext/ready_announcer.py), so it comes after LiteLLM's own start-up lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.locality import LOCAL_PROVIDERS, is_local_endpoint

DASHBOARD_PATH = "/routing/ui"  # router_ext/admin/ui
LIVENESS_PATH = "/health/liveliness"  # LiteLLM's, no key needed
PROVIDER_KEY_EXAMPLE = "OPENROUTER_API_KEY=sk-or-..."  # as serve's "no provider key is set" says
ADD_A_CHANNEL = (
    "add a channel: uv run smart-router channels add --model-name NAME --model PROVIDER/MODEL "
    "(it asks for the key)"
)


@dataclass(frozen=True)
class Channels:
    """The channels a start serves: from the config (the ones whose key is set) and the store."""

    configured: int = 0
    local: int = 0  # of `configured`: on this machine or network (Ollama, LM Studio, ...)
    stored: int = 0
    off: Mapping[str, str] = field(default_factory=dict)  # model_name -> the variable it waits for

    @property
    def on(self) -> int:
        return self.configured + self.stored

    @property
    def reach_a_provider(self) -> bool:
        """Anything beyond local runtimes (which may well not be running)."""
        return self.configured - self.local + self.stored > 0


def _is_local(deployment: Mapping[str, Any]) -> bool:
    info = deployment.get("model_info")
    if isinstance(info, Mapping) and isinstance(info.get("local"), bool):
        return bool(info["local"])
    params = deployment.get("litellm_params")
    params = params if isinstance(params, Mapping) else {}
    model = str(params.get("model") or "")
    provider = str(params.get("custom_llm_provider") or (model.split("/", 1)[0] if "/" in model else ""))
    base = params.get("api_base")
    return provider.lower() in LOCAL_PROVIDERS or is_local_endpoint(str(base) if base else None, provider)


def count_channels(model_list: Sequence[Any], skipped: Mapping[str, str], stored: int) -> Channels:
    deployments = [d for d in model_list if isinstance(d, Mapping)]
    return Channels(
        configured=len(deployments),
        local=sum(1 for d in deployments if _is_local(d)),
        stored=stored,
        off=dict(skipped),
    )


def display_host(host: str) -> str:
    """The address to give a client: a wildcard bind is reached on the loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def base_url(host: str, port: int) -> str:
    return f"http://{display_host(host)}:{port}"


def admin_key_location(
    document: Mapping[str, Any], config: Path, env_file: Path, in_environment: bool
) -> str:
    """Where the admin (master) key is, as LiteLLM picks it: the config's
    `general_settings.master_key` first, else LITELLM_MASTER_KEY. Never the key itself."""
    general = document.get("general_settings")
    configured = general.get("master_key") if isinstance(general, Mapping) else None
    if isinstance(configured, str) and configured.startswith("os.environ/"):
        return f"{configured.split('/', 1)[1]} (general_settings.master_key in {config})"
    if configured:
        return f"general_settings.master_key in {config}"
    return "LITELLM_MASTER_KEY in the environment" if in_environment else f"LITELLM_MASTER_KEY in {env_file}"


def next_step(channels: Channels, env_file: Path | str = ".env") -> str | None:
    """With no channel beyond local runtimes: the one thing to do next. A key the config waits
    for (the default config waits for five), else a channel added at run time."""
    if channels.reach_a_provider:
        return None
    waiting = set(channels.off.values())
    if not waiting:
        return ADD_A_CHANNEL
    example = PROVIDER_KEY_EXAMPLE if "OPENROUTER_API_KEY" in waiting else f"{sorted(waiting)[0]}=..."
    return f"add a provider key to {env_file}, for example {example}, then restart"


def ready_block(url: str, key_location: str, channels: Channels, env_file: Path | str = ".env") -> str:
    """The block itself: no secret, and our own text plain ASCII (a Windows console prints it)."""
    parts = [f"{channels.configured} from the config"]
    if channels.local:
        parts.append(f"{channels.local} of them local")
    parts.append(f"{channels.stored} stored")
    summary = f"{channels.on} on ({', '.join(parts)})"
    if channels.off:
        summary += f"; {len(channels.off)} off: no key"
    lines = [
        "",
        "smart-router is ready",
        f"  URL:        {url}  (OpenAI clients: {url}/v1)",
        f"  dashboard:  {url}{DASHBOARD_PATH}",
        f"  admin key:  {key_location}",
        f"  channels:   {summary}",
    ]
    step = next_step(channels, env_file)
    if step:
        lines.append(f"  next:       {step}")
    return "\n".join(lines) + "\n"
