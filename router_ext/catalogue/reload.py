"""Reload the config's channels without a restart (`POST /routing/reload`, SIGHUP).

The config file is read again (the user's file when started by `smart-router serve`, which
drops channels whose key is unset), and its `model_list` is compared with the Router's
configured deployments by id (the config's `model_info.id`, else LiteLLM's own hash of name +
params): added ones are added, removed ones removed, changed ones replaced. Discovered
deployments are left to discovery. A request in flight keeps the deployment it started with
(LiteLLM hands it the deployment's params and client before the call).
Only `model_list` is applied; the `smart_router:` section needs a restart (the answer says so
when it changed).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from router_ext import deployment as shape
from router_ext.catalogue.channel_specs import STORED
from router_ext.catalogue.channels import count_tokens_locally_without_responses
from router_ext.catalogue.discovery import DISCOVERED
from router_ext.catalogue.price_book import CONFIG_PRICES, PRICE_AT, PRICE_SOURCE
from router_ext.launch_config import prepare_launch_config
from router_ext.litellm_seam import router_registry
from router_ext.settings import SECTION
from router_ext.yaml_io import load_yaml

log = logging.getLogger("smart_router")
OURS = {DISCOVERED, PRICE_SOURCE, PRICE_AT, CONFIG_PRICES}  # model_info keys we add at run time


class ReloadError(ValueError):
    pass


@dataclass
class ReloadResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model_name -> unset variable
    restart_needed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "skipped": self.skipped,
            "restart_needed": self.restart_needed,
        }


def source_config_path() -> str | None:
    from router_ext.litellm_seam.proxy_globals import config_file_path

    return os.environ.get("SMART_ROUTER_SOURCE_CONFIG") or config_file_path()


def read_config(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the config as served, channels left out because their key variable is unset)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = load_yaml(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ReloadError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("model_list") or [], list):
        raise ReloadError(f"{path}: model_list must be a list of deployments")
    for position, deployment in enumerate(document.get("model_list") or []):
        if (
            not isinstance(deployment, dict)
            or not deployment.get("model_name")
            or not isinstance(deployment.get("litellm_params"), dict)
        ):
            raise ReloadError(
                f"{path}: model_list[{position}] needs a model_name and a litellm_params mapping; nothing was changed"
            )
    launch = prepare_launch_config(document, os.environ)
    return launch.document, launch.skipped


def _resolved(params: Mapping[str, Any]) -> dict[str, Any]:
    from litellm import get_secret

    return {
        k: (get_secret(v) if isinstance(v, str) and v.startswith("os.environ/") else v)
        for k, v in params.items()
    }


def _identity(deployment: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    name = shape.model_name(deployment)
    params = _resolved(shape.params(deployment))
    info = dict(shape.info(deployment))
    deployment_id = str(info.get("id") or router_registry.deployment_id(name, params))
    info["id"] = deployment_id
    return deployment_id, {"model_name": name, "litellm_params": params, "model_info": info}


def _shape(deployment: Mapping[str, Any]) -> str:
    """What the config says of a deployment, without what we set at run time."""
    with_ours = {**deployment, "model_info": dict(shape.info(deployment))}
    count_tokens_locally_without_responses(with_ours)  # as the catalogue sets it: kept if there
    original = with_ours["model_info"]
    info = {k: v for k, v in original.items() if k not in OURS}
    if original.get(PRICE_SOURCE) == "config":  # configured prices, before any time window
        info["input_cost_per_token"], info["output_cost_per_token"] = original.get(CONFIG_PRICES) or [
            None,
            None,
        ]
    elif original.get(PRICE_SOURCE):  # scraped, not configured
        info.pop("input_cost_per_token", None)
        info.pop("output_cost_per_token", None)
    # LiteLLM fills in its own flags as false (`db_model`, `use_in_pass_through`, ...) on some
    # deployments and not others: only what is set counts, or an unchanged entry looks changed
    info = {k: v for k, v in info.items() if v is not None and v is not False}
    return json.dumps(
        [deployment.get("model_name"), shape.set_params(deployment), info], sort_keys=True, default=str
    )


def apply_model_list(router: Any, wanted: Sequence[Mapping[str, Any]], result: ReloadResult) -> None:
    # Discovered and stored channels are not the file's: discovery and the store manage them.
    listed = list(router_registry.deployments(router))
    current = {
        str(shape.deployment_id(d)): d
        for d in listed
        if not shape.info(d).get(DISCOVERED) and not shape.info(d).get(STORED)
    }
    desired = dict(_identity(d) for d in wanted)
    kept = [*desired.values(), *(d for d in listed if shape.info(d).get(STORED))]
    wildcards = {str(d.get("model_name")) for d in kept if str(d.get("model_name")).endswith("*")}
    removed: list[str] = []
    for deployment in listed:
        source = shape.info(deployment).get(DISCOVERED)
        if source and source not in wildcards:  # its wildcard is gone from the config
            removed.append(str(shape.deployment_id(deployment)))
    removed += list(current.keys() - desired.keys())
    upsert: list[Mapping[str, Any]] = []
    taken = {str(shape.deployment_id(d)) for d in listed} - current.keys()
    for deployment_id, deployment in desired.items():
        if deployment_id in taken:
            continue  # a stored or discovered channel holds the id: LiteLLM kept the first one too
        if deployment_id in current:
            if _shape(current[deployment_id]) == _shape(deployment):
                continue
            result.changed.append(deployment_id)
        else:
            result.added.append(deployment_id)
        upsert.append(deployment)
    result.removed += removed
    router_registry.change_deployments(router, upsert, removed)


def section_changed(old: Any, new: Mapping[str, Any]) -> list[str]:
    before = old.model_dump(mode="json", by_alias=True) if hasattr(old, "model_dump") else {}
    from router_ext.settings import parse_settings

    after = parse_settings(new.get(SECTION)).model_dump(mode="json", by_alias=True)
    return sorted(k for k in after if before.get(k) != after.get(k))
