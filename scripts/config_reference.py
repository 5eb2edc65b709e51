"""`make docs`: docs/configuration.md, every `smart_router.<key>` of the settings model.

    python -m scripts.config_reference           # write docs/configuration.md
    python -m scripts.config_reference --check   # exit 1 when the file is not what this writes now

Walks `router_ext.settings.RouterSettings` (nested models, maps and lists of models, optional
sections, Literal types, defaults and default factories, descriptions and constraints) and writes
one table per section. The page is generated: edit the settings model (a `Field(description=...)`)
or this script, then run `make docs`; tests/unit/test_config_reference.py fails when they differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from router_ext.settings import SECTION, RouterSettings

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "configuration.md"
MAP_KEY = "<name>"  # a map's own keys in a path: smart_router.virtual_models.<name>.query

EXAMPLE = """\
smart_router:
  strategy: balanced               # used when a request names none
  max_candidates: 5                # ranked channels kept per request (failover walks them)
  strategies:                      # your own: name -> {signal: weight}
    frugal: {cost: 0.7, reliability: 0.3}
  virtual_models:                  # your own model names, listed in /v1/models
    "auto:coder": {query: "tag:coder,>=30b", strategy: cost_first}
  rules:                           # scenario rules: the first that matches decides
    - name: haiku-to-free
      match: {model: "claude-*haiku*"}
      route: auto:free
  health: {failover_deadline_s: 20}
  budgets:
    global: {day: 2.0, month: 30.0}
  schedule: {discovery: "*/30 * * * *", prices: "0 */6 * * *"}
"""


@dataclasses.dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `None`, whether `None` was one of its options)."""
    if not _is_union(annotation):
        return annotation, False
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = len(options) < len(typing.get_args(annotation))
    if len(options) == 1:
        return options[0], optional
    return typing.Union[tuple(options)], optional  # noqa: UP007  # rebuilt from a list


def type_name(annotation: Any) -> str:
    """A YAML reader's name for a Python annotation."""
    if annotation is type(None):
        return "null"
    if annotation is typing.Any:
        return "any"
    if _is_model(annotation):
        return "object"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return simple[annotation]
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in arguments)
    if _is_union(annotation):
        return " or ".join(type_name(a) for a in arguments)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(arguments[0])}" if arguments else "list"
    if origin is dict:
        key, value = arguments if arguments else (str, typing.Any)
        return f"map of {type_name(key)} to {type_name(value)}"
    return getattr(annotation, "__name__", str(annotation))


def constraints(field: FieldInfo) -> list[str]:
    found = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            found.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            found.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            found.append(f"<= {item.le}")
        elif isinstance(item, annotated_types.Lt):
            found.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen):
            found.append(f"at least {item.min_length} long")
        elif isinstance(item, annotated_types.MaxLen):
            found.append(f"at most {item.max_length} long")
        elif getattr(item, "pattern", None):
            found.append(f"matches `{item.pattern}`")
    return found


def yaml_value(value: Any) -> str:
    """A value as one would write it in the YAML config (a string in double quotes; a map or a
    list in flow style)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_none=True)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def default_of(field: FieldInfo, owner: BaseModel | None, name: str) -> str:
    """The default as the settings model applies it: read from a default instance of the model
    that holds the key when there is one (a section's factory may set its keys, e.g.
    `limits.openrouter_free`), else from the field."""
    if owner is not None:
        return f"`{yaml_value(getattr(owner, name))}`"
    if field.is_required():
        return "required"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]  # no argument
    return f"`{yaml_value(value)}`"


def first_paragraph(text: str | None) -> str:
    if not text:
        return ""
    paragraph = text.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def key_of(name: str, field: FieldInfo) -> str:
    return field.alias or name


def model_inside(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The settings model a field holds, and how its keys are reached below the field's path:
    `` (the model itself), `.<name>` (a map of them) or `[]` (a list of them)."""
    annotation, _ = _without_none(annotation)
    if _is_model(annotation):
        return annotation, ""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(arguments) == 2 and _is_model(arguments[1]):
        return arguments[1], f".{MAP_KEY}"
    if origin in (list, tuple) and arguments and _is_model(arguments[0]):
        return arguments[0], "[]"
    return None, ""


def rows_of(model: type[BaseModel], prefix: str, owner: BaseModel | None) -> Iterator[Row]:
    """Every key of `model` below `prefix`, depth first, in the model's order. `owner`: the
    model's default instance, when the path has one (not below a map or a list)."""
    for name, field in model.model_fields.items():
        yield from rows_of_field(name, field, prefix, owner)


def rows_of_field(name: str, field: FieldInfo, prefix: str, owner: BaseModel | None) -> Iterator[Row]:
    """One key, and the keys below it when it holds a settings model."""
    path = f"{prefix}.{key_of(name, field)}"
    annotation, optional = _without_none(field.annotation)
    inner, reach = model_inside(field.annotation)
    kind = type_name(annotation)
    if inner is not None and reach:
        kind = "map of string to object" if reach.startswith(".") else "list of objects"
    if optional:
        kind += " or null"
    limits = constraints(field)
    if limits:
        kind += " (" + ", ".join(limits) + ")"
    description = first_paragraph(field.description)
    if field.examples:
        example = ", ".join(f"`{yaml_value(e)}`" for e in field.examples)
        description = f"{description}; e.g. {example}" if description else f"e.g. {example}"
    if inner is not None and not description:
        description = first_paragraph(inner.__doc__)
    plain_section = inner is not None and not reach and not optional
    # a plain section's default is its keys' defaults, listed below it
    yield Row(path, kind, "" if plain_section else default_of(field, owner, name), description)
    if inner is not None:
        below = getattr(owner, name) if plain_section and owner is not None else None
        yield from rows_of(inner, path + reach, below if isinstance(below, BaseModel) else None)


def sections() -> list[tuple[str, str, list[Row]]]:
    """(heading, intro, rows): the top-level keys first, then one section per key that holds a
    settings model (itself, a map or a list of them), in the model's order."""
    top: list[Row] = []
    found: list[tuple[str, str, list[Row]]] = []
    defaults = RouterSettings()
    for name, field in RouterSettings.model_fields.items():
        rows = list(rows_of_field(name, field, SECTION, defaults))
        inner, _ = model_inside(field.annotation)
        if inner is None:
            top += rows
            continue
        heading, intro = rows[0].path, first_paragraph(inner.__doc__)
        if rows[0].type == "object":  # a plain section: its heading says what its own row would
            rows = rows[1:]
        elif rows[0].description == intro:  # said once, above the table
            rows[0] = dataclasses.replace(rows[0], description="")
        found.append((heading, intro, rows))
    return [(SECTION, first_paragraph(RouterSettings.__doc__), top), *found]


def missing_descriptions() -> list[str]:
    """Keys with no description in the settings model, nor a docstring on the section they open
    (listed, never an error)."""
    return [row.path for row in rows_of(RouterSettings, SECTION, None) if not row.description]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def _anchor(heading: str) -> str:
    return heading.lower().replace(".", "").replace(" ", "-")


def render() -> str:
    parts = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/config_reference.py from router_ext/settings.py: run `make docs`,",
        "     do not edit by hand. tests/unit/test_config_reference.py fails when it is out of date. -->",
        "",
        "Every key of the `smart_router:` section of the LiteLLM config (`config/config.yaml`), with its",
        "type, default and meaning. Every key is optional; an unknown or misspelled key stops start-up",
        "and names the key. `<name>` stands for a name of your choosing (a map's key), `[]` for each",
        "item of a list. The rest of the file is a normal LiteLLM config: see",
        "[operations](operations.md#the-config) for `model_list` and `model_info`.",
        "",
        "```yaml",
        EXAMPLE.rstrip("\n"),
        "```",
        "",
        "A changed `smart_router:` section takes effect at the next start (`POST /routing/reload`",
        "applies `model_list` only and names the settings that need a restart).",
        "",
    ]
    listed = sections()
    parts += [f"- [`{heading}`](#{_anchor(heading)})" for heading, _, _ in listed]
    for heading, intro, rows in listed:
        parts += ["", f"## {heading}", ""]
        if intro:
            parts += [intro, ""]
        parts += ["| key | type | default | description |", "|---|---|---|---|"]
        for row in rows:
            cells = (f"`{row.path}`", row.type, row.default, row.description)
            parts.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    missing = missing_descriptions()
    if missing:
        print(f"{len(missing)} key(s) without a description: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
