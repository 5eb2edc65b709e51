"""Where the CLI's commands find their environment (`.env`) and their store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from router_ext.yaml_io import load_yaml


def load_env_file(path: Path) -> None:
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def serve_database_url(document: dict[str, Any]) -> str:
    from router_ext.settings import DEFAULT_DATABASE_URL

    configured = (document.get("smart_router") or {}).get("database_url")
    return str(configured or os.environ.get("ROUTER_DATABASE_URL") or DEFAULT_DATABASE_URL)


def database_url(args: argparse.Namespace) -> str:
    """The store the proxy uses: `--database-url`, else what serve would pick (the config's
    `smart_router.database_url`, then ROUTER_DATABASE_URL, then the SQLite default)."""
    if args.database_url:
        return str(args.database_url)
    config_path = Path(args.config)
    document = load_yaml(config_path.read_text(encoding="utf-8")) or {} if config_path.exists() else {}
    return serve_database_url(document if isinstance(document, dict) else {})
