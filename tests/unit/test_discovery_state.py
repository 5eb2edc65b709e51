"""What /routing/discovery shows of a wildcard channel: never a key from its listing URL."""

from __future__ import annotations

from router_ext.catalogue.discovery import Discovery
from tests.unit.fake_router import FakeRouter


def test_a_listing_url_is_shown_without_its_query_string() -> None:
    wildcard = {
        "model_name": "gm/*",
        "litellm_params": {"model": "openai/*", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-listing"},
        "model_info": {"discovery_url": "http://127.0.0.1:9/v1/models?key=AIzaSyD-secret-in-the-url"},
    }
    router = FakeRouter([wildcard])
    discovery = Discovery(lambda: router, lambda: None, lambda: None)
    discovery._learn_sources()
    shown = discovery.describe()
    assert shown["gm/*"]["url"] == "http://127.0.0.1:9/v1/models"
    assert "secret" not in str(shown)
