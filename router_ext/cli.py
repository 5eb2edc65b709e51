"""`smart-router` command line: `serve` starts the LiteLLM proxy with our extension."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from router_ext import first_run, platform_support, ready_announcer
from router_ext.cli_env import database_url, load_env_file, serve_database_url
from router_ext.launch_config import RENDERED_ENV, SECTIONS_ENV
from router_ext.litellm_seam.version import PROXY_CLI_MODULE, litellm_version
from router_ext.state.shared_state import redis_url_from
from router_ext.yaml_io import load_yaml

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
# uvicorn pings each worker and kills one that does not answer within this (its default: 5 s).
# A spawned worker imports LiteLLM's CLI module before it can answer at all (11-25 s measured on
# a slow 2-core box, more while its siblings import too): with 5 s every worker is killed
# mid-import, forever, and none serves. The cost of a long wait: a worker that hangs is replaced
# after this long rather than after 5 s.
WORKER_HEALTHCHECK_S = 180
# Must be set before LiteLLM is imported, or the import waits on a failed network fetch.
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}


def ensure_env_file(path: Path) -> list[str]:
    """Give `.env` a random LITELLM_MASTER_KEY (the admin key) and SMART_ROUTER_SECRET_KEY (seals
    stored upstream keys) unless it, or the environment, has them: never a well-known default.
    Returns the names written."""
    from router_ext.secret_box import SECRET_ENV, new_secret_key

    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    wanted = {
        "LITELLM_MASTER_KEY": ("the admin key of /routing/*", lambda: "sk-" + secrets.token_urlsafe(32)),
        SECRET_ENV: (
            "seals the upstream keys of stored channels: keep it, or they cannot be read",
            new_secret_key,
        ),
    }
    written = []
    with path.open("a", encoding="utf-8") as handle:
        for name, (why, make) in wanted.items():
            if _assigned(existing, name) or os.environ.get(name):
                continue
            if existing and not existing.endswith("\n"):
                handle.write("\n")
            handle.write(f"# written by smart-router on first run; {why}\n{name}={make()}\n")
            existing += "\n"
            written.append(name)
    path.chmod(0o600)
    return written


def _assigned(text: str, name: str) -> bool:
    """`.env` gives `name` a value. `NAME=` alone (as in .env.example, copied as it is) does not:
    it would leave the proxy without an admin key. A later line wins when `.env` is read."""
    for line in text.splitlines():
        key, equals, value = line.strip().removeprefix("export ").partition("=")
        if equals and key.strip() == name and value.split(" #", 1)[0].strip().strip("'\"").strip():
            return True
    return False


def serve(args: argparse.Namespace) -> int:
    from router_ext.launch_config import prepare_launch_config

    workers = worker_count(args.workers)
    refused = platform_support.workers_refused(workers)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    env_file = Path(args.env_file)
    key_in_environment = bool(os.environ.get("LITELLM_MASTER_KEY"))
    for name in ensure_env_file(env_file):
        print(f"smart-router: wrote a new random {name} to {env_file}", file=sys.stderr)
    load_env_file(env_file)
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)

    config_path = Path(args.config)
    if not config_path.exists():
        print(f"smart-router: config file not found: {config_path}", file=sys.stderr)
        return 2
    document = load_yaml(config_path.read_text(encoding="utf-8")) or {}
    launch = prepare_launch_config(document, os.environ)
    from router_ext.runtime.rules import check_rules
    from router_ext.settings import SettingsError, settings_of

    try:
        check_rules(launch.document, settings_of(launch.document, config_path))
    except SettingsError as error:
        print(f"smart-router: {error}", file=sys.stderr)
        return 2
    from router_ext.secret_box import SecretKeyError, box_from_env
    from router_ext.store.startup_check import STORED_ENV, check_store

    try:
        stored = check_store(serve_database_url(launch.document), box_from_env())
        os.environ[STORED_ENV] = str(stored)
    except SecretKeyError as error:
        print(f"smart-router: cannot start: {error}", file=sys.stderr)
        return 2
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
    rendered_dir = Path(tempfile.mkdtemp(prefix="smart-router-"))  # 0700: only this user reads it
    try:
        rendered = rendered_dir / "config.yaml"
        # JSON is YAML: LiteLLM parses it as fast as the block style, and it is written 20x faster.
        rendered.write_text(json.dumps(launch.document, default=str), encoding="utf-8")
        sections = rendered_dir / "sections.json"
        # What the runtime reads, so that it does not parse the whole file (model_list) again. In a
        # file, not in the environment: `router_settings` may carry the Redis password.
        sections.write_text(json.dumps(runtime_sections(launch.document), default=str), encoding="utf-8")
        os.environ["SMART_ROUTER_SOURCE_CONFIG"] = str(config_path.resolve())
        os.environ[RENDERED_ENV] = str(rendered)
        os.environ[SECTIONS_ENV] = str(sections)
        argv = [
            sys.executable,
            "-m",
            PROXY_CLI_MODULE,
            "--config",
            str(rendered),
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
        state_server = (
            workers > 1
            and not redis_url_from(launch.document, None, dict(os.environ))
            and not ((launch.document.get("smart_router") or {}).get("redis_url"))
        )
        if workers > 1:
            # LiteLLM's command line, with a listening socket per worker (router_ext/balanced_workers.py)
            argv[2] = "router_ext.litellm_seam.workers"
            argv += ["--num_workers", str(workers), "--timeout_worker_healthcheck", str(WORKER_HEALTHCHECK_S)]
            prepare_store(serve_database_url(launch.document))  # once, before the workers race to it
        print(
            f"smart-router: serving {config_path} on http://{args.host}:{args.port} with LiteLLM "
            f"{litellm_version()} (the features on are listed once it has started)",
            file=sys.stderr,
        )
        url = first_run.base_url(args.host, args.port)
        channels = first_run.count_channels(launch.document.get("model_list") or [], launch.skipped, stored)
        key_location = first_run.admin_key_location(
            launch.document, config_path, env_file, key_in_environment
        )
        ready_announcer.write_announcement(
            rendered_dir,
            url + first_run.LIVENESS_PATH,
            first_run.ready_block(url, key_location, channels, env_file),
        )
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        shutil.rmtree(rendered_dir, ignore_errors=True)
        raise
    supervisor_args = [*(["--state-server"] if state_server else []), str(rendered_dir), *argv]
    if not platform_support.supervisor_replaces_serve():  # Windows: no exec, supervise from here
        from router_ext import supervise

        return supervise.main(supervisor_args)
    # This process holds the parsed config (150 MB at 10,000 channels): become a small supervisor
    # that runs the proxy, hands it our signals and removes the folder when it ends.
    os.execv(sys.executable, [sys.executable, "-m", "router_ext.supervise", *supervisor_args])
    return 0  # not reached


def worker_count(value: str) -> int:
    """`--workers`: a number, or `auto` for one per core. The default is 1: a personal or small
    team router waits on upstreams far more than it computes, one process is ~300 MB less per
    worker and starts in half the time; use more when the proxy's CPU is the limit (many
    concurrent streams, `make bench` shows it)."""
    if str(value).strip().lower() == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise SystemExit(f"smart-router: --workers must be a number or auto, not {value!r}") from None
    if count < 1:
        raise SystemExit("smart-router: --workers must be at least 1")
    return count


def prepare_store(url: str) -> None:
    """Create / migrate the store once, before several workers would race to do it."""
    import asyncio

    from router_ext.store.record_store import RecordStore, migrate

    async def run() -> None:
        store = RecordStore(url)
        await store.open_engine()
        try:
            await migrate(store._engine())
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except Exception as error:  # noqa: BLE001  # an unreachable database: each worker's store retries
        print(
            f"smart-router: the store was not prepared ({type(error).__name__}); the workers will retry",
            file=sys.stderr,
        )


def runtime_sections(document: dict[str, Any]) -> dict[str, Any]:
    """Our section, and LiteLLM's Redis settings (shared state uses the same Redis)."""
    router = document.get("router_settings") or {}
    return {
        "smart_router": document.get("smart_router") or {},
        "router_settings": {k: v for k, v in router.items() if str(k).startswith("redis_")},
    }


def keys(args: argparse.Namespace) -> int:
    """Client keys, straight in the store (a running proxy picks them up within seconds)."""
    import asyncio

    load_env_file(Path(args.env_file))
    from router_ext.client_keys import KeyRequestError
    from router_ext.store.key_table import KeyTable
    from router_ext.store.record_store import RecordStore, migrate

    async def run() -> int:
        store = RecordStore(database_url(args))
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


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.done, self.label = max(total, 1), 0, label
        self.live = sys.stderr.isatty()

    def step(self, what: str) -> None:
        self.done += 1
        if self.live:
            filled = int(20 * self.done / self.total)
            bar = "#" * filled + "-" * (20 - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {what[:40]:<40}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _launch_document(args: argparse.Namespace) -> dict[str, Any] | None:
    from router_ext.launch_config import prepare_launch_config

    load_env_file(Path(args.env_file))
    config_path = Path(args.config)
    if not config_path.exists():
        print(f"smart-router: config file not found: {config_path}", file=sys.stderr)
        return None
    document = load_yaml(config_path.read_text(encoding="utf-8")) or {}
    return prepare_launch_config(document, os.environ).document


def prices(args: argparse.Namespace) -> int:
    """Fetch every configured price source now and print the table (USD per million tokens)."""
    import asyncio

    from router_ext.catalogue.price_book import PriceBook
    from router_ext.settings import SettingsError, parse_settings

    document = _launch_document(args)
    if document is None:
        return 2
    try:
        settings = parse_settings(document.get("smart_router"))
    except SettingsError as error:
        print(f"smart-router: {error}", file=sys.stderr)
        return 2
    sources = [s for s in settings.prices.sources if args.channel in (None, s.channel)]
    if not sources:
        print("smart-router: no price source configured (smart_router.prices.sources)", file=sys.stderr)
        return 2
    book = PriceBook(settings.prices, lambda: None, lambda: None, lambda: None)
    progress = Progress(len(sources), "prices")
    result = asyncio.run(book.refresh(args.channel, progress=progress.step))
    print(f"{'channel':<14} {'model':<52} {'in $/M':>10} {'out $/M':>10}  source")
    for row in book.table(args.channel):
        mark = " free" if row["free"] else ""
        print(
            f"{row['channel']:<14} {row['model']:<52} {row['input_usd_per_m']:>10.4f} "
            f"{row['output_usd_per_m']:>10.4f}  {row['source']}{mark}"
        )
    for channel, problem in result.errors.items():
        print(f"smart-router: {channel}: {problem}", file=sys.stderr)
    return 1 if result.errors and not result.parsed else 0


def discover(args: argparse.Namespace) -> int:
    """List what each wildcard channel offers now."""
    import asyncio

    from router_ext.catalogue.discovery import Discovery, WildcardSource, wildcard_sources
    from scrapers.listing import ListedModel

    document = _launch_document(args)
    if document is None:
        return 2
    sources = wildcard_sources(document.get("model_list") or [])
    if not sources:
        print("smart-router: no wildcard channel (model_name ending in '*') in the config", file=sys.stderr)
        return 2
    discovery = Discovery(lambda: None, lambda: None, lambda: None)
    progress = Progress(len(sources), "discover")

    async def run() -> list[list[ListedModel] | str]:
        async def one(source: WildcardSource) -> list[ListedModel] | str:
            listed = await discovery.list_source(source)
            progress.step(source.key)
            return listed

        return list(await asyncio.gather(*(one(s) for s in sources)))

    failures = 0
    for source, listed in zip(sources, asyncio.run(run()), strict=True):
        if isinstance(listed, str):
            failures += 1
            print(f"{source.key}  ({source.channel}): FAILED: {listed}")
            continue
        print(f"{source.key}  ({source.channel}): {len(listed)} model(s)")
        for model in listed:
            context = f"  ctx {model.context_tokens}" if model.context_tokens else ""
            print(f"    {source.name_prefix}{model.id}{context}")
    return 1 if failures == len(sources) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smart-router", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="start the LiteLLM proxy with smart-router")
    serve_cmd.add_argument("--config", default=os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))
    serve_cmd.add_argument("--host", default=DEFAULT_HOST)
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_cmd.add_argument("--env-file", default=".env")
    serve_cmd.add_argument(
        "--workers",
        "--num-workers",
        dest="workers",
        default=os.environ.get("SMART_ROUTER_WORKERS", "1"),
        help="proxy worker processes: a number or auto (one per core); default 1. Several share state "
        "through Redis when configured, else through an embedded server",
    )
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

    from router_ext.channels_cli import add_parser as add_channels_parser

    add_channels_parser(commands, os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))

    prices_cmd = commands.add_parser("prices", help="fetch the configured price sources and print the table")
    prices_cmd.add_argument("--config", default=os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))
    prices_cmd.add_argument("--env-file", default=".env")
    prices_cmd.add_argument("--channel", default=None, help="only this channel")
    prices_cmd.set_defaults(handler=prices)

    discover_cmd = commands.add_parser("discover", help="list what each wildcard channel offers")
    discover_cmd.add_argument("--config", default=os.environ.get("SMART_ROUTER_CONFIG", DEFAULT_CONFIG))
    discover_cmd.add_argument("--env-file", default=".env")
    discover_cmd.set_defaults(handler=discover)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
