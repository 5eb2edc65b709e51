"""`smart-router channels ...`: stored channels straight in the store (a running proxy applies a
change within about a second: it polls the store's revision). A key is asked for at a prompt
(or read from stdin when piped), never taken from the command line, so it stays out of shell
history and `ps`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from router_ext.catalogue.channel_specs import ChannelRequestError
from router_ext.secret_box import SECRET_ENV, SecretBox, SecretKeyError, box_from_env, new_secret_key
from router_ext.yaml_io import load_yaml

Action = Callable[[Any, argparse.Namespace], Awaitable[int]]


def read_key(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def _fail(message: str) -> int:
    print(f"smart-router: {message}", file=sys.stderr)
    return 2


async def _with_store(args: argparse.Namespace, action: Action, box: SecretBox | None = None) -> int:
    from router_ext.catalogue.stored_channels import StoredChannels
    from router_ext.cli_env import database_url
    from router_ext.store.channel_table import ChannelTable
    from router_ext.store.record_store import RecordStore, migrate

    store = RecordStore(database_url(args))
    await store.open_engine()
    try:
        await migrate(store._engine())
        stored = StoredChannels(
            lambda: None, box if box is not None else box_from_env(), _nothing, asyncio.Lock()
        )
        table = ChannelTable(store._engine())
        await stored.attach(table, poll=False)
        if stored.problem and args.channels_command not in ("list", "rekey"):
            return _fail(stored.problem)
        return await action(stored, args)
    except ChannelRequestError as error:
        return _fail(error.message)
    finally:
        await store.close()


async def _nothing(_: bool) -> None:
    return None


async def _list(stored: Any, args: argparse.Namespace) -> int:
    if stored.problem:
        print(f"smart-router: {stored.problem}", file=sys.stderr)
    rows = stored.listing()
    if not rows:
        print("no stored channels (channels in the config file are listed by GET /routing/channels)")
    for row in rows:
        keys = ", ".join(k["prefix"] for k in row["keys"]) or "no key"
        state = "enabled" if row["enabled"] else "disabled"
        print(
            f"{row['id']:<24} {row['model_name']:<32} {row['litellm_params'].get('model', ''):<36} {state:<9} {keys}"
        )
    return 0


async def _add(stored: Any, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"model": args.model}
    if args.api_base:
        params["api_base"] = args.api_base
    if not args.no_key:
        params["api_key"] = read_key(f"API key for {args.model_name} (not echoed): ")
    info: dict[str, Any] = {"id": args.id} if args.id else {}
    for pair in args.info or []:
        name, _, value = pair.partition("=")
        info[name] = load_yaml(value) if value else None
    created = await stored.create(
        {"model_name": args.model_name, "litellm_params": params, "model_info": info}, set()
    )
    print(
        f"added channel {created['id']} ({created['model_name']}); keys: {', '.join(k['prefix'] for k in created['keys']) or 'none'}"
    )
    return 0


async def _rm(stored: Any, args: argparse.Namespace) -> int:
    await stored.delete(args.channel_id)
    print(f"deleted channel {args.channel_id}")
    return 0


async def _add_key(stored: Any, args: argparse.Namespace) -> int:
    added = await stored.add_key(args.channel_id, read_key(f"API key for {args.channel_id} (not echoed): "))
    print(
        f"added key {added['id']} ({added['prefix']}) to {args.channel_id}: deployment {added['deployment_id']}"
    )
    return 0


async def _remove_key(stored: Any, args: argparse.Namespace) -> int:
    await stored.delete_key(args.channel_id, args.key_id)
    print(f"removed key {args.key_id} from {args.channel_id}")
    return 0


async def _test(stored: Any, args: argparse.Namespace) -> int:
    from router_ext.catalogue.channel_probe import probe_deployment
    from router_ext.catalogue.channel_specs import deployments_of

    channel = stored.stored(args.channel_id)
    if channel is None:
        return _fail(f"no stored channel with id {args.channel_id!r} (see `smart-router channels list`)")
    keys = [(k, stored._open(k)) for k in stored.keys if k.channel_id == channel.id]
    failed = 0
    for deployment in deployments_of(channel, keys) or deployments_of(_enabled(channel), keys):
        result = await probe_deployment(deployment, [raw for _, raw in keys])
        if result["ok"]:
            print(f"{result['deployment']}: ok in {result['latency_ms']} ms")
        else:
            failed += 1
            print(
                f"{result['deployment']}: FAILED {result['error_class']} ({result['error_reason']}): {result['message']}"
            )
    return 1 if failed else 0


def _enabled(channel: Any) -> Any:
    import dataclasses

    return dataclasses.replace(channel, enabled=True)


async def _import(stored: Any, args: argparse.Namespace) -> int:
    """A LiteLLM config's model_list into the store: literal keys are sealed, `os.environ/NAME`
    keys are read from the environment (and `.env`) and sealed; a channel whose id is stored
    already is left alone, so importing twice adds nothing."""
    path = Path(args.file)
    try:
        document = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        return _fail(f"cannot read {path}: {error}")
    from router_ext.catalogue.one_api_import import rows_of

    one_api = rows_of(document)
    if one_api is not None:
        return await _import_one_api(stored, one_api)
    deployments = document.get("model_list") if isinstance(document, dict) else None
    if not isinstance(deployments, list):
        return _fail(f"{path}: neither a LiteLLM config (model_list) nor a One / New API channel export")
    added = skipped = 0
    for position, deployment in enumerate(deployments):
        if not isinstance(deployment, dict):
            return _fail(f"{path}: model_list[{position}] is not a mapping; nothing after it was imported")
        body = {k: v for k, v in deployment.items() if k in ("model_name", "litellm_params", "model_info")}
        params = dict(body.get("litellm_params") or {})
        key = params.get("api_key")
        if isinstance(key, str) and key.startswith("os.environ/"):
            variable = key.split("/", 1)[1]
            if not os.environ.get(variable):
                print(f"skipped {body.get('model_name')!r}: {variable} is not set")
                skipped += 1
                continue
            params["api_key"] = os.environ[variable]
        body["litellm_params"] = params
        info = dict(body.get("model_info") or {})
        if info.get("id") and stored.stored(str(info["id"])) is not None:
            print(f"skipped {info['id']}: stored already")
            skipped += 1
            continue
        try:
            created = await stored.create(body, set())
        except ChannelRequestError as error:
            print(f"skipped model_list[{position}] ({body.get('model_name')!r}): {error.message}")
            skipped += 1
            continue
        added += 1
        print(f"imported {created['id']} ({created['model_name']})")
    print(f"{added} channel(s) imported, {skipped} skipped")
    return 0


async def _import_one_api(stored: Any, rows: list[dict[str, Any]]) -> int:
    from router_ext.catalogue.one_api_import import convert

    added = skipped = 0
    for row in rows:
        channels, problem = convert(row)
        if problem:
            print(f"skipped {problem}")
            skipped += 1
        for found in channels:
            channel_id = found.body["model_info"]["id"]
            if stored.stored(channel_id) is not None:
                print(f"skipped {channel_id}: stored already")
                skipped += 1
                continue
            body = {**found.body, "litellm_params": dict(found.body["litellm_params"])}
            if found.keys:
                body["litellm_params"]["api_key"] = found.keys[0]
            try:
                created = await stored.create(body, set())
                for key in found.keys[1:]:
                    await stored.add_key(channel_id, key)
            except ChannelRequestError as error:
                print(f"skipped {channel_id}: {error.message}")
                skipped += 1
                continue
            added += 1
            state = (
                "" if found.enabled else " (disabled: give it a key with `channels key-add`, then enable it)"
            )
            print(f"imported {created['id']} ({created['model_name']}, {len(found.keys)} key(s)){state}")
    print(f"{added} channel(s) imported, {skipped} skipped")
    return 0


async def _rekey(stored: Any, args: argparse.Namespace) -> int:
    """Every key sealed again under a new secret, in one transaction; then `.env` is updated."""
    if stored.problem or stored.box is None:
        return _fail(stored.problem or f"{SECRET_ENV} is not set: nothing to re-encrypt from")
    new_secret = new_secret_key() if args.generate else getpass.getpass(f"new {SECRET_ENV} (not echoed): ")
    try:
        new_box = SecretBox(new_secret)
    except SecretKeyError as error:
        return _fail(str(error))
    old_box = stored.box
    count = await stored.table.reseal(
        lambda key: new_box.seal(old_box.open(key.sealed, key.id), key.id), new_box.check_value()
    )
    env_file = Path(args.env_file)
    if env_file.exists() and f"{SECRET_ENV}=" in env_file.read_text(encoding="utf-8"):
        text = re.sub(
            rf"(?m)^{SECRET_ENV}=.*$", f"{SECRET_ENV}={new_secret}", env_file.read_text(encoding="utf-8")
        )
        temporary = env_file.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o600)
        temporary.replace(env_file)
        print(f"re-encrypted {count} key(s); {env_file} now holds the new {SECRET_ENV}: restart the proxy")
    else:
        print(
            f"re-encrypted {count} key(s); set {SECRET_ENV} to the new value where the proxy reads it, then restart:"
        )
        print(new_secret)
    return 0


ACTIONS: dict[str, Action] = {
    "list": _list,
    "add": _add,
    "rm": _rm,
    "key-add": _add_key,
    "key-rm": _remove_key,
    "test": _test,
    "import": _import,
    "rekey": _rekey,
}


def channels(args: argparse.Namespace) -> int:
    from router_ext.cli_env import load_env_file

    load_env_file(Path(args.env_file))
    try:
        return asyncio.run(_with_store(args, ACTIONS[args.channels_command]))
    except SecretKeyError as error:
        return _fail(str(error))


def add_parser(commands: Any, config_default: str) -> None:
    cmd = commands.add_parser("channels", help="stored channels: add, list, rm, test, keys, import, rekey")
    cmd.add_argument("--config", default=config_default)
    cmd.add_argument("--database-url", default=None, help="default: ROUTER_DATABASE_URL or the config's")
    cmd.add_argument("--env-file", default=".env")
    sub = cmd.add_subparsers(dest="channels_command", required=True)
    sub.add_parser("list", help="stored channels (keys as prefixes only)")
    add = sub.add_parser("add", help="add a channel; the API key is asked for at a prompt")
    add.add_argument("--model-name", required=True, help="the name clients use (its tags too)")
    add.add_argument("--model", required=True, help="LiteLLM provider/model, e.g. openai/qwen3-8b")
    add.add_argument("--api-base", default=None)
    add.add_argument("--id", default=None, help="the channel id (default: generated)")
    add.add_argument("--info", action="append", metavar="KEY=VALUE", help="a model_info field (repeat)")
    add.add_argument("--no-key", action="store_true", help="a keyless upstream (a local server)")
    rm = sub.add_parser("rm", help="delete a stored channel")
    rm.add_argument("channel_id")
    key_add = sub.add_parser("key-add", help="add an upstream key to a channel (asked for at a prompt)")
    key_add.add_argument("channel_id")
    key_rm = sub.add_parser("key-rm", help="remove a key from a channel")
    key_rm.add_argument("channel_id")
    key_rm.add_argument("key_id")
    test = sub.add_parser("test", help="one small real call per key: latency or the error class")
    test.add_argument("channel_id")
    imported = sub.add_parser("import", help="a LiteLLM config.yaml's model_list into the store")
    imported.add_argument("file")
    rekey = sub.add_parser("rekey", help=f"seal every key under a new {SECRET_ENV}")
    rekey.add_argument("--generate", action="store_true", help="generate the new secret (else asked for)")
    cmd.set_defaults(handler=channels)
