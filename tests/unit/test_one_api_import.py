"""One API / New API channel rows as our stored channels (the formats of songquanpeng/one-api)."""

from __future__ import annotations

from router_ext.catalogue.one_api_import import convert, rows_of

ROW = {
    "id": 7,
    "type": 8,
    "name": "my-sf",
    "key": "sk-first\nsk-second",
    "status": 1,
    "base_url": "https://api.siliconflow.cn",
    "models": "Qwen/Qwen3-8B, deepseek-chat",
    "model_mapping": '{"deepseek-chat": "deepseek-ai/DeepSeek-V3"}',
}


def test_every_export_shape_gives_its_rows() -> None:
    assert rows_of([ROW]) == [ROW]
    assert rows_of({"success": True, "data": [ROW]}) == [ROW]
    assert rows_of({"data": {"items": [ROW], "total": 1}}) == [ROW]
    assert rows_of({"model_list": []}) is None


def test_a_custom_channel_becomes_one_openai_compatible_channel_per_model_with_a_key_pool() -> None:
    channels, problem = convert(ROW)
    assert problem is None
    assert [c.body["model_name"] for c in channels] == ["Qwen/Qwen3-8B", "deepseek-chat"]
    assert channels[1].body["litellm_params"] == {
        "model": "openai/deepseek-ai/DeepSeek-V3",
        "api_base": "https://api.siliconflow.cn/v1",
    }
    assert channels[0].keys == ["sk-first", "sk-second"] and channels[0].enabled
    assert channels[0].body["model_info"]["id"] == "oneapi-7-Qwen-Qwen3-8B"
    assert "api_key" not in channels[0].body["litellm_params"]


def test_native_providers_an_unknown_type_and_a_keyless_listing() -> None:
    anthropic, _ = convert(
        {**ROW, "type": 14, "base_url": "", "models": "claude-haiku-4-5", "model_mapping": ""}
    )
    assert anthropic[0].body["litellm_params"] == {"model": "anthropic/claude-haiku-4-5"}
    none, problem = convert({**ROW, "type": 99})
    assert none == [] and problem is not None and "type 99" in problem
    keyless, _ = convert({**ROW, "key": ""})  # One API's own listing omits keys
    assert not keyless[0].enabled and keyless[0].body["enabled"] is False
