"""`make demo`: the proxy with smart-router in front of simulated providers (no keys, no internet).

Starts five simulated providers (free, paid, local, slow, failing) and serves
config/demo.yaml on 127.0.0.1:7602 until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import time

from scripts.stack import ROOT, render_config, start_proxy, start_simulator

PORT = int(os.environ.get("SMART_ROUTER_PORT", "7602"))


def main() -> int:
    spec = json.loads((ROOT / "scripts" / "demo_providers.json").read_text(encoding="utf-8"))
    simulator = start_simulator(spec)
    proxy = None
    try:
        config = render_config(ROOT / "config" / "demo.yaml", simulator.ports)
        print(f"simulated providers: {simulator.ports}; starting the proxy ...", flush=True)
        proxy = start_proxy(config, port=PORT)
        key = proxy.master_key
        print(
            f"""
smart-router demo on {proxy.base_url}  (admin/master key: {key})

  curl {proxy.base_url}/v1/chat/completions -H 'Authorization: Bearer {key}' \\
       -H 'content-type: application/json' \\
       -d '{{"model": "tag:qwen,free", "messages": [{{"role": "user", "content": "hi"}}]}}' -i

  models to try: auto, auto:free, auto:local, auto:cheap, auto:fast, auto:best, auto:coder,
                 tag:qwen,free   tag:qwen,!free   tag:>=70b   tag:ctx>=128k
  curl {proxy.base_url}/routing/explain?model=auto -H 'Authorization: Bearer {key}'
  dashboard: {proxy.base_url}/routing/ui   (paste the master key)
  curl -X PUT {proxy.base_url}/routing/strategy -H 'Authorization: Bearer {key}' \\
       -H 'content-type: application/json' -d '{{"strategy": "local_first"}}'

Ctrl-C stops the demo.""",
            flush=True,
        )
        while proxy.process.poll() is None:
            time.sleep(1)
        return proxy.process.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
