"""`smart-router` command line: `serve` starts the LiteLLM proxy with our extension."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

import yaml

DEFAULT_CONFIG = "config/config.yaml"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7602
PROVIDER_KEYS = (
    "OPENROUTER_API_KEY",
    "SILICONFLOW_API_KEY",
    "GROQ_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)
# Must be set before LiteLLM is imported, or the import waits on a failed network fetch.
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}


def ensure_env_file(path: Path) -> bool:
    """Give `.env` a random LITELLM_MASTER_KEY unless it (or the environment) has one."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if "LITELLM_MASTER_KEY=" in existing or os.environ.get("LITELLM_MASTER_KEY"):
        return False
    key = "sk-" + secrets.token_urlsafe(32)
    with path.open("a", encoding="utf-8") as handle:
        if existing and not existing.endswith("\n"):
            handle.write("\n")
        handle.write(
            f"# written by smart-router on first run; the admin key of /routing/*\nLITELLM_MASTER_KEY={key}\n"
        )
    path.chmod(0o600)
    return True


def load_env_file(path: Path) -> None:
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def serve(args: argparse.Namespace) -> int:
    from router_ext.launch_config import prepare_launch_config

    env_file = Path(args.env_file)
    if ensure_env_file(env_file):
        print(f"smart-router: wrote a new random LITELLM_MASTER_KEY to {env_file}", file=sys.stderr)
    load_env_file(env_file)
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)

    config_path = Path(args.config)
    if not config_path.exists():
        print(f"smart-router: config file not found: {config_path}", file=sys.stderr)
        return 2
    document = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    launch = prepare_launch_config(document, os.environ)
    for model_name, variable in sorted(launch.skipped.items()):
        print(f"smart-router: channel {model_name!r} is off: set {variable} to enable it", file=sys.stderr)
    if not any(os.environ.get(k) for k in PROVIDER_KEYS):
        print(
            "smart-router: no provider key is set. Add one to .env, for example\n"
            "    OPENROUTER_API_KEY=sk-or-...   (also SILICONFLOW_API_KEY, GROQ_API_KEY, "
            "OPENAI_API_KEY, ANTHROPIC_API_KEY)\n"
            "  then restart; local Ollama (:11434) and LM Studio (:1234) are used when running.",
            file=sys.stderr,
        )
    rendered_dir = Path(tempfile.mkdtemp(prefix="smart-router-"))
    rendered = rendered_dir / "config.yaml"
    rendered.write_text(yaml.safe_dump(launch.document, sort_keys=False), encoding="utf-8")
    os.environ["SMART_ROUTER_SOURCE_CONFIG"] = str(config_path.resolve())
    argv = [
        sys.executable,
        "-m",
        "litellm.proxy.proxy_cli",
        "--config",
        str(rendered),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    if args.num_workers:
        argv += ["--num_workers", str(args.num_workers)]
    print(f"smart-router: serving {config_path} on http://{args.host}:{args.port}", file=sys.stderr)
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


def _database_url(args: argparse.Namespace) -> str:
    from router_ext.store import DEFAULT_URL

    if args.database_url:
        return str(args.database_url)
    if os.environ.get("ROUTER_DATABASE_URL"):
        return os.environ["ROUTER_DATABASE_URL"]
    config_path = Path(args.config)
    if config_path.exists():
        document = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        configured = (document.get("smart_router") or {}).get("database_url")
        if configured:
            return str(configured)
    return DEFAULT_URL


def keys(args: argparse.Namespace) -> int:
    """Client keys, straight in the store (a running proxy picks them up within seconds)."""
    import asyncio

    load_env_file(Path(args.env_file))
    from router_ext.client_keys import KeyRequestError, KeyTable
    from router_ext.store import RecordStore, migrate

    async def run() -> int:
        store = RecordStore(_database_url(args))
        await store.open_engine()
        try:
            await migrate(store._engine())
            table = KeyTable(store._engine())
            if args.keys_command == "create":
                key, raw = await table.create(
                    args.name, args.budget_day, args.budget_month, args.models or []
                )
                print(f"created client key {key.id} ({key.name})")
                print(f"  key: {raw}")
                print("  store it now: it is not shown again (only its hash is kept)")
                return 0
            if args.keys_command == "revoke":
                revoked = await table.revoke(args.key_id)
                if revoked is None:
                    print(f"smart-router: no client key with id {args.key_id!r}", file=sys.stderr)
                    return 2
                print(f"revoked {revoked.id} ({revoked.name})")
                return 0
            for key in await table.all():
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
                models = ", ".join(key.models.entries) or "all models"
                budgets = ", ".join(f"${limit.usd}/{limit.period}" for limit in key.limits) or "no budget"
                print(f"{key.id}  {key.name:<24} {key.key_prefix}...  {state:<24} {budgets:<20} {models}")
            return 0
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except KeyRequestError as error:
        print(f"smart-router: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smart-router", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="start the LiteLLM proxy with smart-router")
    serve_cmd.add_argument("--config", default=os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))
    serve_cmd.add_argument("--host", default=DEFAULT_HOST)
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_cmd.add_argument("--env-file", default=".env")
    serve_cmd.add_argument("--num-workers", type=int, default=0)
    serve_cmd.set_defaults(handler=serve)

    keys_cmd = commands.add_parser("keys", help="client keys: create, list, revoke")
    keys_cmd.add_argument("--config", default=os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))
    keys_cmd.add_argument("--database-url", default=None, help="default: ROUTER_DATABASE_URL or the config's")
    keys_cmd.add_argument("--env-file", default=".env")
    key_commands = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="issue a key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--budget-day", type=float, default=None, metavar="USD")
    create.add_argument("--budget-month", type=float, default=None, metavar="USD")
    create.add_argument(
        "--models",
        action="append",
        metavar="QUERY",
        help="allowed model name, glob or tag query (repeat for more), e.g. --models tag:free",
    )
    key_commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = key_commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    keys_cmd.set_defaults(handler=keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
