"""docs/configuration.md is what scripts/config_reference.py writes from the settings model now."""

from __future__ import annotations

import warnings

import yaml

from router_ext.settings import SECTION, parse_settings
from scripts import config_reference


def test_the_configuration_reference_is_up_to_date() -> None:
    current = config_reference.TARGET.read_text(encoding="utf-8") if config_reference.TARGET.exists() else ""
    assert current == config_reference.render(), (
        "docs/configuration.md differs from what scripts/config_reference.py makes of "
        "router_ext/settings.py: run make docs"
    )


def test_it_lists_every_key_nested_in_sections_maps_and_lists() -> None:
    text = config_reference.render()
    for path in (
        "smart_router.strategy",
        "smart_router.health.failover_deadline_s",
        "smart_router.virtual_models.<name>.query",
        "smart_router.rules[].match.model",
        "smart_router.budgets.global.day",
        "smart_router.limits.providers.<name>.rpm",
        "smart_router.prices.windows[].start",
        "smart_router.on_budget.at_percent",
    ):
        assert f"| `{path}` |" in text, path
    rows = {row.path: row for row in config_reference.rows_of(config_reference.RouterSettings, SECTION, None)}
    assert len(rows) == len(list(config_reference.rows_of(config_reference.RouterSettings, SECTION, None)))
    assert rows["smart_router.max_candidates"].type == "integer (>= 1, <= 50)"
    assert rows["smart_router.log_format"].type == "string (matches `^(json|text)$`)"
    assert rows["smart_router.rules[].name"].default == "required"
    assert rows["smart_router.on_budget"].type == "object or null"


def test_defaults_are_the_ones_the_settings_apply() -> None:
    (_, _, top), *sections = config_reference.sections()
    every = {row.path: row for row in top} | {row.path: row for _, _, rows in sections for row in rows}
    assert every["smart_router.strategy"].default == '`"balanced"`'
    assert every["smart_router.fast_streams"].default == "`true`"
    assert every["smart_router.database_url"].default == "`null`"
    assert every["smart_router.health.max_attempts"].default == "`3`"
    assert every["smart_router.schedule.discovery"].default == '`"*/30 * * * *"`'
    # a section whose factory sets its keys: the keys show what the factory sets
    assert every["smart_router.limits.openrouter_free.rpm"].default == "`20`"
    assert every["smart_router.limits.openrouter_free.tpm"].default == "`null`"


def test_the_example_is_a_valid_section_and_the_output_is_deterministic() -> None:
    parse_settings(yaml.safe_load(config_reference.EXAMPLE)[SECTION])
    assert config_reference.render() == config_reference.render()


def test_keys_without_a_description_are_listed_not_failed() -> None:
    missing = config_reference.missing_descriptions()
    if missing:
        warnings.warn(
            f"{len(missing)} smart_router key(s) have no description in router_ext/settings.py: "
            + ", ".join(missing),
            UserWarning,
            stacklevel=1,
        )
