"""`smart-router serve` prepares the config in its own process before it starts LiteLLM's: that
process must not import LiteLLM (about 3.5 s here, added to every start; a shared helper once
pulled it in)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# what serve() imports before it starts the proxy (router_ext/cli.py)
SERVE_IMPORTS = (
    "router_ext.cli",
    "router_ext.first_run",
    "router_ext.platform_support",
    "router_ext.channels_cli",
    "router_ext.launch_config",
    "router_ext.runtime.rules",
    "router_ext.settings",
    "router_ext.secret_box",
    "router_ext.store.startup_check",
    "router_ext.catalogue.channel_specs",
)


def test_serve_prepares_the_config_without_importing_litellm() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {SERVE_IMPORTS!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'litellm' or m.startswith('litellm.'))[:5])\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout


def test_the_supervisor_stays_small() -> None:
    """The supervisor lives beside the proxy for its whole life and its memory counts against
    ours (make bench's "memory added"): urllib.request alone pulled in http.client, email and ssl,
    8 MB of resident memory."""
    code = (
        "import sys, router_ext.supervise\n"
        "heavy = ('litellm', 'urllib.request', 'http.client', 'ssl', 'email', 'httpx', 'redis', 'catalog')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout
