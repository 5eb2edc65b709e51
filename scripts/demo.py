"""`make demo`: the proxy with smart-router in front of simulated providers (no keys, no internet).

Starts five simulated providers (free, paid, local, slow, failing) and serves
config/demo.yaml on 127.0.0.1:7602 until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from router_ext.cli import ensure_env_file, load_env_file
from router_ext.exit_signals import die_with_parent
from scripts.stack import ROOT, render_config, start_proxy, start_simulator

PORT = int(os.environ.get("PORT") or os.environ.get("SMART_ROUTER_PORT") or "7602")


class Stop(Exception):
    """SIGTERM: stop the way Ctrl-C does."""


def _stop(_signum: int, _frame: Any) -> None:
    raise Stop


def main() -> int:
    die_with_parent()  # `make demo` killed: this goes too, and takes its children with it
    signal.signal(signal.SIGTERM, _stop)
    env_file = Path(os.environ.get("SMART_ROUTER_ENV_FILE", ROOT / ".env"))
    ensure_env_file(env_file)  # the same key as `make run`: the one in .env
    load_env_file(env_file)
    spec = json.loads((ROOT / "scripts" / "demo_providers.json").read_text(encoding="utf-8"))
    simulator = start_simulator(spec)
    proxy = None
    try:
        config = render_config(ROOT / "config" / "demo.yaml", simulator.ports)
        print(f"simulated providers: {simulator.ports}; starting the proxy ...", flush=True)
        proxy = start_proxy(config, port=PORT, env={"LITELLM_MASTER_KEY": os.environ["LITELLM_MASTER_KEY"]})
        key = proxy.master_key
        print(
            f"""
smart-router demo on {proxy.base_url}  (admin/master key, LITELLM_MASTER_KEY in {env_file}: {key})

  curl {proxy.base_url}/v1/chat/completions -H 'Authorization: Bearer {key}' \\
       -H 'content-type: application/json' \\
       -d '{{"model": "tag:qwen,free", "messages": [{{"role": "user", "content": "hi"}}]}}' -i

  models to try: auto, auto:free, auto:local, auto:cheap, auto:fast, auto:best, auto:coder,
                 tag:qwen,free   tag:qwen,!free   tag:>=70b   tag:ctx>=128k
  curl {proxy.base_url}/routing/explain?model=auto -H 'Authorization: Bearer {key}'
  dashboard: {proxy.base_url}/routing/ui   (paste the master key)
  curl -X PUT {proxy.base_url}/routing/strategy -H 'Authorization: Bearer {key}' \\
       -H 'content-type: application/json' -d '{{"strategy": "local_first"}}'

  Claude Code:  ANTHROPIC_BASE_URL={proxy.base_url} ANTHROPIC_AUTH_TOKEN={key} \\
                ANTHROPIC_MODEL='tag:qwen,free' ANTHROPIC_DEFAULT_HAIKU_MODEL=auto:cheap claude
  Codex CLI:    in ~/.codex/config.toml
                  model = "tag:qwen,free"
                  model_provider = "smartrouter"
                  [model_providers.smartrouter]
                  name = "smart-router"
                  base_url = "{proxy.base_url}/v1"
                  env_key = "SMART_ROUTER_KEY"
                  wire_api = "responses"
                then SMART_ROUTER_KEY={key} codex
  Anthropic SDK / Responses API: the same model names on {proxy.base_url}/v1/messages and /v1/responses

Ctrl-C stops the demo.""",
            flush=True,
        )
        while proxy.process.poll() is None:
            time.sleep(1)
        return proxy.process.returncode or 0
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
