"""What a client key may use, and its budgets (the SQL side runs in the proxy tests)."""

import datetime as dt

import pytest

from accounting.budgets import SpendBook
from catalog.index import TagIndex
from router_ext.client_keys import AllowedModels, ClientKey, KeyRequestError, hash_key
from router_ext.launch_config import CUSTOM_AUTH, prepare_launch_config
from tests.unit.catalog_fixture import CATALOG


def test_tag_queries_and_globs_select_channels() -> None:
    index = TagIndex(CATALOG)
    allowed = AllowedModels.parse(["tag:free", "local-*"])
    names = {index.channels[p].id for p in allowed.channel_mask(index).nonzero()[0]}
    assert "free-qwen" in names and "local-llama" in names
    assert "cheap-gemma" not in names
    assert allowed.names_model("LOCAL-llama") and not allowed.names_model("auto")
    assert AllowedModels.parse([]).unrestricted


def test_a_malformed_entry_says_what_is_wrong() -> None:
    with pytest.raises(KeyRequestError, match="size filter"):
        AllowedModels.parse(["tag:>=lots"])
    with pytest.raises(KeyRequestError, match="empty entry"):
        AllowedModels.parse([" "])


def test_a_key_budget_applies_to_that_key_only() -> None:
    now = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
    key = ClientKey("k1", "alice", hash_key("sk-sr-x"), "sk-sr-x", now, budget_day_usd=1.0)
    book = SpendBook()
    book.settle("alice-hash", None, 0.9, now)
    exceeded = book.check("alice-hash", None, 0.2, now, key.limits, key.name)
    assert exceeded is not None and "key daily budget for key 'alice'" in exceeded.message
    assert book.check("bob-hash", None, 0.2, now, key.limits, key.name) is None
    assert book.check("alice-hash", None, 0.2, now) is None  # no key limits: no key budget


def test_serve_installs_our_auth_unless_litellm_has_its_database() -> None:
    assert prepare_launch_config({}, {}).document["general_settings"]["custom_auth"] == CUSTOM_AUTH
    with_db = prepare_launch_config({}, {"DATABASE_URL": "postgresql://x"}).document
    assert "custom_auth" not in with_db["general_settings"]
    own = prepare_launch_config({"general_settings": {"custom_auth": "mine.auth"}}, {}).document
    assert own["general_settings"]["custom_auth"] == "mine.auth"
