from pathlib import Path

import pytest

from router_ext.cli import ensure_env_file


def test_first_run_writes_a_random_master_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("OPENROUTER_API_KEY=sk-or-x")
    assert ensure_env_file(first)
    assert ensure_env_file(second)
    key_a = next(line for line in first.read_text().splitlines() if line.startswith("LITELLM_MASTER_KEY="))
    key_b = next(line for line in second.read_text().splitlines() if line.startswith("LITELLM_MASTER_KEY="))
    assert key_a != key_b
    assert len(key_a.split("=", 1)[1]) > 30
    assert "OPENROUTER_API_KEY=sk-or-x" in first.read_text()
    assert not ensure_env_file(first)  # never replaced once written
    assert oct(first.stat().st_mode & 0o777) == "0o600"


def test_an_empty_key_line_as_in_env_example_gets_a_random_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dotenv import dotenv_values

    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    monkeypatch.delenv("SMART_ROUTER_SECRET_KEY", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text((Path(__file__).parents[2] / ".env.example").read_text(encoding="utf-8"))
    assert ensure_env_file(env_file) == ["LITELLM_MASTER_KEY", "SMART_ROUTER_SECRET_KEY"]
    values = dotenv_values(env_file)
    assert str(values["LITELLM_MASTER_KEY"]).startswith("sk-") and values["SMART_ROUTER_SECRET_KEY"]
    assert not ensure_env_file(env_file)
    kept = tmp_path / "kept.env"
    kept.write_text('LITELLM_MASTER_KEY="sk-mine"  # chosen\nexport SMART_ROUTER_SECRET_KEY=abc\n')
    assert not ensure_env_file(kept)
