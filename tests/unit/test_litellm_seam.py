"""The LiteLLM seam holds: outside router_ext/litellm_seam/ no module imports a LiteLLM internal or
touches the Router's undocumented members; every internal in the inventory is there on the
installed LiteLLM; a missing one switches its feature off (or, for what smart-router cannot run
without, stops the start with a message that says what to do)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from router_ext.litellm_seam import features, router_registry
from router_ext.litellm_seam.internals import CORE, HIDDEN_ENV, INTERNALS
from router_ext.litellm_seam.version import litellm_version, version_tuple

ROOT = Path(__file__).resolve().parents[2]
SEAM = ROOT / "router_ext" / "litellm_seam"
SCANNED = ("accounting", "catalog", "health", "router_ext", "strategies", "scrapers", "scripts")

# LiteLLM's documented surface: what code outside the seam may import
PUBLIC_MODULES = ("litellm.integrations.custom_logger", "litellm.exceptions")
PUBLIC_PREFIXES = ("litellm.types.",)
PUBLIC_TOP_LEVEL = frozenset(
    {"acompletion", "aembedding", "get_llm_provider", "get_secret", "model_cost", "Router", "exceptions"}
)
# The Router's and the proxy's members that differ between versions or are not documented
INTERNAL_ATTRIBUTES = frozenset(
    {
        "model_list",
        "model_id_to_deployment_index_map",
        "delete_deployment",
        "add_deployment",
        "upsert_deployment",
        "set_model_list",
        "generate_model_id",
        "async_get_available_deployment",
        "proxy_server",
        "llm_router",
        "get_deployment",
    }
)


def outside_the_seam() -> list[Path]:
    return [
        path
        for package in SCANNED
        for path in (ROOT / package).rglob("*.py")
        if SEAM not in path.parents and ".venv" not in path.parts
    ]


def internal_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("litellm.") and not _public_module(alias.name):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "litellm":
            module = node.module or ""
            if module == "litellm":
                found += [
                    f"{node.lineno}: from litellm import {a.name}"
                    for a in node.names
                    if a.name not in PUBLIC_TOP_LEVEL
                ]
            elif not _public_module(module):
                found.append(f"{node.lineno}: from {module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "litellm"
            and node.attr not in PUBLIC_TOP_LEVEL
        ):
            found.append(f"{node.lineno}: litellm.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _internal_name(node.value):
            found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Call) and _named(node.func) in ("import_module", "getattr", "__import__"):
            for argument in node.args:
                text = argument.value if isinstance(argument, ast.Constant) else None
                if isinstance(text, str) and (
                    (text.startswith("litellm.") and not _public_module(text)) or text in INTERNAL_ATTRIBUTES
                ):
                    found.append(f"{node.lineno}: {_named(node.func)}({text!r})")
    return sorted(found, key=lambda use: int(use.split(":")[0]))


def _internal_name(text: str) -> bool:
    """A LiteLLM module path (`python -m litellm.proxy.proxy_cli`) or a key of its request data."""
    if text == "proxy_server_request":
        return True
    return bool(re.fullmatch(r"litellm(\.[a-z_]+)+", text)) and not _public_module(text)


def _named(function: ast.expr) -> str:
    if isinstance(function, ast.Name):
        return function.id
    return function.attr if isinstance(function, ast.Attribute) else ""


def _public_module(name: str) -> bool:
    return name in PUBLIC_MODULES or name.startswith(PUBLIC_PREFIXES)


def test_no_module_outside_the_seam_uses_a_litellm_internal() -> None:
    offending = {
        str(path.relative_to(ROOT)): uses for path in outside_the_seam() if (uses := internal_uses(path))
    }
    assert offending == {}


def test_the_check_finds_an_internal(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from litellm.proxy import proxy_server\n"
        "from litellm import Router, _turn_on_debug\n"
        "from litellm.types.router import Deployment\n"
        "from litellm.integrations.custom_logger import CustomLogger\n"
        "x = router.model_list\n"
        "litellm._turn_on_debug()\n"
        "importlib.import_module('litellm.proxy.proxy_server')\n"
        "getattr(router, 'model_list')\n"
        "litellm.acompletion\n"
        "run(['python', '-m', 'litellm.proxy.proxy_cli'])\n"
        "data.get('proxy_server_request')\n"
    )
    assert internal_uses(sample) == [
        "1: from litellm.proxy import ...",
        "2: from litellm import _turn_on_debug",
        "5: .model_list",
        "6: litellm._turn_on_debug",
        "7: import_module('litellm.proxy.proxy_server')",
        "7: 'litellm.proxy.proxy_server'",
        "8: getattr('model_list')",
        "10: 'litellm.proxy.proxy_cli'",
        "11: 'proxy_server_request'",
    ]


def test_every_probed_internal_is_there_on_the_installed_litellm() -> None:
    missing = {i.path: why for i in INTERNALS if (why := i.probe()) is not None}
    assert missing == {}, f"LiteLLM {litellm_version()}"


def test_the_inventory_names_real_features_and_every_version_checked() -> None:
    for internal in INTERNALS:
        assert set(internal.used_by) <= {CORE, *features.FEATURES}, internal.path
        assert internal.v1_108_7 and internal.v1_110_2, internal.path


def test_a_hidden_internal_switches_its_feature_off_and_says_why() -> None:
    path = "litellm.llms.vllm.passthrough.transformation:VLLMPassthroughConfig"
    report = features.probe({HIDDEN_ENV: path})
    assert not report.on("relay") and report.on("body_guard")
    assert path in report.off["relay"]
    described = report.as_dict()
    assert described["features"]["relay"]["on"] is False
    assert described["litellm_version"] == litellm_version()


def test_a_missing_core_internal_stops_the_start_with_what_to_do() -> None:
    with pytest.raises(features.LiteLLMIncompatible, match=r"lacks what smart-router needs: .*master_key"):
        features.probe({HIDDEN_ENV: "litellm.proxy.proxy_server:master_key"})


def test_a_signature_change_counts_as_missing() -> None:
    from router_ext.litellm_seam.internals import Internal

    changed = Internal("textwrap:dedent", ("relay",), params=("text", "no_such_parameter"))
    assert "no longer takes no_such_parameter" in str(changed.probe())
    assert Internal("textwrap:dedent", ("relay",), params=("text",)).probe() is None
    assert "missing" in str(Internal("textwrap:no_such_function", ("relay",)).probe())


def test_version_numbers_compare() -> None:
    assert version_tuple("1.110.2") > version_tuple("1.108.7")
    assert version_tuple("1.111.0rc1") == (1, 111, 0)


def _router(count: int = 3) -> object:
    from litellm import Router

    return Router(
        model_list=[
            {
                "model_name": "m",
                "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1", "api_key": "k"},
                "model_info": {"id": f"d-{i}"},
            }
            for i in range(count)
        ]
    )


def test_model_info_changes_land_in_one_batch_and_are_read_back() -> None:
    router = _router()
    untouched = router_registry.deployment_entry(router, "d-1")
    changed = router_registry.update_model_info(
        router, {"d-0": {"input_cost_per_token": 1e-6}, "d-2": {"token_count_framing": 0}, "nope": {"x": 1}}
    )
    assert changed == 2
    entries = {str(d["model_info"]["id"]): d for d in router_registry.deployments(router)}
    assert entries["d-0"]["model_info"]["input_cost_per_token"] == 1e-6
    assert entries["d-2"]["model_info"]["token_count_framing"] == 0
    assert "token_count_framing" not in entries["d-1"]["model_info"]
    assert router_registry.deployment_entry(router, "d-1") is untouched  # what is cached by it stays
    assert router_registry.update_model_info(router, {"d-0": {"input_cost_per_token": 1e-6}}) == 0
    router_registry.update_model_info(router, {"d-2": {"token_count_framing": router_registry.DELETE}})
    assert "token_count_framing" not in router_registry.deployment_entry(router, "d-2")["model_info"]


def test_deployments_are_added_replaced_and_removed_in_one_change() -> None:
    router = _router()
    replaced = {
        "model_name": "m",
        "litellm_params": {"model": "openai/other", "api_base": "http://127.0.0.1:2/v1", "api_key": "k"},
        "model_info": {"id": "d-1"},
    }
    added = {**replaced, "model_info": {"id": "d-9"}}
    router_registry.change_deployments(router, [replaced, added], ["d-0", "d-1"])
    entries = {str(d["model_info"]["id"]): d for d in router_registry.deployments(router)}
    assert sorted(entries) == ["d-1", "d-2", "d-9"]  # d-1 replaced, not removed
    assert entries["d-1"]["litellm_params"]["model"] == "openai/other"
    assert router_registry.deployment_entry(router, "d-0") is None
    assert router_registry.deployment_entry(router, "d-9") is not None


def test_a_deployment_id_is_litellms_own_hash() -> None:
    params = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    assert router_registry.deployment_id("m", params) == router_registry.deployment_id("m", dict(params))
    assert router_registry.deployment_id("m", params) != router_registry.deployment_id("n", params)


def test_the_docs_list_every_internal_as_the_inventory_does() -> None:
    from router_ext.litellm_seam.internals import inventory_table

    assert inventory_table() in (ROOT / "docs" / "litellm-seam.md").read_text(encoding="utf-8")


def test_every_internal_the_seam_uses_is_in_the_inventory() -> None:
    listed = {internal.path for internal in INTERNALS}

    def known(path: str) -> bool:
        return any(entry == path or entry.startswith(path + ".") for entry in listed)

    unlisted = set()
    for path in SEAM.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("litellm."):
                if _public_module(node.module or "") or node.module == "litellm.router_api":
                    continue
                for alias in node.names:
                    if node.module == "litellm.proxy" and alias.name == "proxy_server":
                        continue  # its attributes are checked below
                    if not known(f"{node.module}:{alias.name}"):
                        unlisted.add(f"{path.name}: {node.module}:{alias.name}")
            elif isinstance(node, ast.Attribute) and _is_proxy(node.value):
                if not known(f"litellm.proxy.proxy_server:{node.attr}"):
                    unlisted.add(f"{path.name}: proxy_server.{node.attr}")
            elif isinstance(node, ast.Call) and _named(node.func) == "getattr" and len(node.args) >= 2:
                target, name = node.args[0], node.args[1]
                if (
                    _is_proxy(target)
                    and isinstance(name, ast.Constant)
                    and not known(f"litellm.proxy.proxy_server:{name.value}")
                ):
                    unlisted.add(f"{path.name}: proxy_server.{name.value}")
    assert unlisted == set()


def _is_proxy(node: ast.expr) -> bool:
    """`proxy_server`, `proxy` or `_proxy()`: the proxy's module in the seam's own names."""
    if isinstance(node, ast.Call):
        return _named(node.func) == "_proxy"
    return isinstance(node, ast.Name) and node.id in ("proxy_server", "proxy")


def test_the_start_up_probes_do_not_load_the_tokenizer() -> None:
    """Its import is ~190 ms and ~30 MB at every start: request_facts loads it on first use."""
    import subprocess
    import sys

    code = (
        "import sys, os\n"
        "import litellm.proxy.proxy_server\n"
        "from router_ext.litellm_seam.features import probe\n"
        "probe(os.environ)\n"
        "print('litellm.litellm_core_utils.default_encoding' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
