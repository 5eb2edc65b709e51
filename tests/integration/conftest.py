"""Real processes: simulated providers and the LiteLLM proxy with smart-router (one per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import Proxy, Simulator, render_config, start_proxy, start_simulator

HERE = Path(__file__).parent

PROVIDERS = {
    "providers": [
        {
            "name": "free",
            "models": ["qwen/qwen3-30b-a3b:free", "google/gemma-3-270m:free"],
            "api_key": "sk-sim-free",
        },
        {
            "name": "paid",
            "models": ["gpt-4o-mini", "qwen/qwen3-235b-a22b", "meta-llama/llama-3.3-70b-instruct"],
            "api_key": "sk-sim-paid",
        },
        {"name": "local", "models": ["qwen2.5:7b"]},
    ]
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator(PROVIDERS)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def proxy(simulator: Simulator) -> Iterator[Proxy]:
    config = render_config(HERE / "routing_config.yaml", simulator.ports)
    running = start_proxy(config)
    yield running
    running.stop()
