import pytest

from catalog.locality import is_local_endpoint
from router_ext.launch_config import prepare_launch_config
from router_ext.settings import SettingsError, parse_settings


def test_defaults() -> None:
    settings = parse_settings(None)
    assert settings.strategy == "balanced"
    assert settings.max_candidates == 5


def test_unknown_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(SettingsError, match=r"smart_router\.stratgy: unknown setting"):
        parse_settings({"stratgy": "cost_first"})


def test_unknown_key_inside_a_virtual_model() -> None:
    with pytest.raises(SettingsError, match=r"virtual_models\.auto:coder\.qury: unknown setting"):
        parse_settings({"virtual_models": {"auto:coder": {"qury": "tag:coder"}}})


def test_bad_query_in_a_virtual_model() -> None:
    with pytest.raises(SettingsError, match="is not a size filter"):
        parse_settings({"virtual_models": {"auto:coder": {"query": "tag:coder,>=xb"}}})


def test_builtin_names_are_reserved() -> None:
    with pytest.raises(SettingsError, match="reserved"):
        parse_settings({"virtual_models": {"auto:free": {"query": "tag:x"}}})


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(SettingsError, match=r"smart_router\.max_candidates"):
        parse_settings({"max_candidates": "many"})


def test_launch_config_drops_channels_without_their_key() -> None:
    document = {
        "model_list": [
            {
                "model_name": "a",
                "litellm_params": {"model": "openrouter/*", "api_key": "os.environ/OPENROUTER_API_KEY"},
            },
            {"model_name": "b", "litellm_params": {"model": "groq/*", "api_key": "os.environ/GROQ_API_KEY"}},
            {"model_name": "c", "litellm_params": {"model": "ollama_chat/*"}},
        ]
    }
    launch = prepare_launch_config(document, {"GROQ_API_KEY": "gsk-x"})
    assert [d["model_name"] for d in launch.document["model_list"]] == ["b", "c"]
    assert launch.skipped == {"a": "OPENROUTER_API_KEY"}
    assert launch.document["litellm_settings"]["disable_hf_tokenizer_download"] is True
    assert "router_ext.hook.proxy_handler" in launch.document["litellm_settings"]["callbacks"]


@pytest.mark.parametrize(
    ("api_base", "provider", "local"),
    [
        ("http://127.0.0.1:8000/v1", "openai", True),
        ("http://localhost:11434", "ollama", True),
        ("http://192.168.1.20:8080", "openai", True),
        ("http://10.0.0.5/v1", "openai", True),
        ("http://gpu-box:1234/v1", "openai", True),  # LM Studio port
        ("https://openrouter.ai/api/v1", "openrouter", False),
        (None, "ollama", True),
        (None, "openai", False),
        ("not a url", "openai", False),
    ],
)
def test_locality(api_base: str | None, provider: str, local: bool) -> None:
    assert is_local_endpoint(api_base, provider) is local


def test_a_redis_password_with_url_characters_is_encoded() -> None:
    from router_ext.state.shared_state import redis_url_from

    url = redis_url_from(
        {"router_settings": {"redis_host": "cache", "redis_password": "p@ss/w:rd"}}, None, {}
    )
    assert url == "redis://:p%40ss%2Fw%3Ard@cache:6379/0"


def test_serve_hands_the_runtime_only_what_it_reads() -> None:
    from router_ext.cli import runtime_sections

    document = {
        "model_list": [{"model_name": "x"}],
        "general_settings": {"master_key": "sk-secret", "database_url": "postgresql://u:p@h/d"},
        "router_settings": {"redis_host": "cache", "redis_password": "pw", "num_retries": 0},
        "smart_router": {"strategy": "cost_first"},
    }
    assert runtime_sections(document) == {
        "smart_router": {"strategy": "cost_first"},
        "router_settings": {"redis_host": "cache", "redis_password": "pw"},
    }
