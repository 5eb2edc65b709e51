"""compose.yaml and the Dockerfile: validated by docker-compose (no engine needed) and checked
against the project (LiteLLM version, packages, ports)."""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
ENV = {
    **os.environ,
    "LITELLM_MASTER_KEY": "sk-test",
    "SMART_ROUTER_SECRET_KEY": "a-long-enough-test-secret",
    "POSTGRES_PASSWORD": "pw",
}


def test_docker_compose_accepts_the_file() -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: `make services` installs it (Debian package docker-compose)")
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={k: v for k, v in ENV.items() if k != "LITELLM_MASTER_KEY"},
        timeout=60,
        cwd=ROOT,
    )
    assert missing.returncode != 0 and "set LITELLM_MASTER_KEY" in missing.stderr


def test_the_topology_two_replicas_behind_a_balancer_on_redis_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"router", "lb", "redis", "postgres"}
    router = services["router"]
    assert router["deploy"]["replicas"] == 2
    assert router["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert router["environment"]["ROUTER_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/litellm" in router["environment"]["DATABASE_URL"]  # LiteLLM's own, for its UI
    assert {"redis", "postgres"} <= set(router["depends_on"])
    nginx = (ROOT / "config" / "nginx.conf").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    port = re.search(r"--port\", \"(\d+)\"", dockerfile).group(1)  # type: ignore[union-attr]
    assert f"server router:{port}" in nginx and f"EXPOSE {port}" in dockerfile
    assert "CREATE DATABASE litellm" in (ROOT / "config" / "postgres-init.sql").read_text()


def test_the_image_matches_the_locked_litellm_and_ships_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = tomllib.loads((ROOT / "uv.lock").read_text())
    version = next(p["version"] for p in locked["package"] if p["name"] == "litellm")
    assert project["tool"]["uv"]["constraint-dependencies"] == [f"litellm=={version}"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"FROM ghcr.io/berriai/litellm:main-v{version}" in dockerfile
    for package in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert f"COPY {package} ./{package}" in dockerfile
