"""Route-decision benchmark: p50/p99 per catalogue size, printed as a table.

    uv run python -m scripts.bench_routing [--sizes 10,100,1000,10000] [--runs 2000]

Measures, on synthetic catalogues of realistic model names:
  resolve  : tag query -> matching channels (the index)        target p99 <= 0.2 ms @1k, 1 ms @10k
  decide   : resolve + filter + score + rank (strategy balanced) target p99 <= 0.3 ms @1k, 2 ms @10k
for a narrow query (`tag:qwen,free`), a size query (`tag:llama,>=8b,ctx>=32k`) and `auto`
(every channel is a candidate: the worst case).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.query import TagQuery, parse_tag_query
from catalog.sizes import context_from_tags, params_from_tags
from catalog.tags import merge_tags
from catalog.virtual import BUILTIN_VIRTUAL_MODELS, RouteSpec
from strategies.base import RequestFacts
from strategies.decision import NoChannelError, decide
from strategies.observations import Observations
from strategies.registry import build_strategies

FAMILIES = [
    "qwen/qwen3",
    "qwen/qwen2.5",
    "meta-llama/llama-3.1",
    "google/gemma-3",
    "mistralai/mistral",
    "deepseek/deepseek-v3",
    "openai/gpt-4o",
    "anthropic/claude-3.5",
    "microsoft/phi-4",
    "zhipu/glm-4",
]
SIZES = ["270m", "1b", "4b", "7b", "8b", "14b", "30b", "32b", "70b", "235b"]
SUFFIXES = ["", ":free", "-instruct", "-chat", "-128k", "-coder"]
PROVIDERS = ["openrouter", "siliconflow", "groq", "together", "local"]


def synthetic_catalog(size: int, seed: int = 7) -> list[Channel]:
    rng = random.Random(seed)
    channels = []
    for i in range(size):
        family, params, suffix = rng.choice(FAMILIES), rng.choice(SIZES), rng.choice(SUFFIXES)
        provider = rng.choice(PROVIDERS)
        upstream = f"{provider}/{family}-{params}{suffix}"
        tags = merge_tags([upstream])
        free = suffix == ":free" or rng.random() < 0.05
        price = 0.0 if free else rng.choice([1e-7, 2e-7, 6e-7, 2e-6, None])
        channels.append(
            Channel(
                id=f"dep-{i}",
                model_name=f"{family}-{params}{suffix}-{i}",
                upstream_model=upstream,
                provider=provider,
                channel=provider,
                tags=tags,
                params_b=params_from_tags(tags),
                context_tokens=context_from_tags(tags) or rng.choice([8_192, 32_768, 131_072]),
                local=provider == "local",
                input_cost_per_token=price,
                output_cost_per_token=price,
                price_verified=price is not None,
                order=rng.choice([None, 1, 2]),
            )
        )
    return channels


def percentiles(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(min(200, runs)):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    strategies = build_strategies()
    request = RequestFacts(prompt_tokens=300, max_output_tokens=512)
    queries = {
        "tag:qwen,free": RouteSpec("tag:qwen,free", query=parse_tag_query("tag:qwen,free")),
        "tag:llama,>=8b,ctx>=32k": RouteSpec("q2", query=parse_tag_query("tag:llama,>=8b,ctx>=32k")),
        "auto": BUILTIN_VIRTUAL_MODELS["auto"],
    }
    print(
        f"{'channels':>8} {'query':<26} {'matches':>7} {'resolve p50':>11} {'p99':>8} {'decide p50':>10} {'p99':>8}  (ms)"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        index = TagIndex(synthetic_catalog(size))
        build_ms = (time.perf_counter() - started) * 1000
        observations = Observations(index)
        for name, spec in queries.items():
            query = spec.query
            matches = int(index.mask(query).sum()) if query is not None else index.size

            def resolve(query: TagQuery | None = query, index: TagIndex = index) -> object:
                return index.mask(query).nonzero() if query is not None else index.all.nonzero()

            def decision(
                spec: RouteSpec = spec, index: TagIndex = index, observations: Observations = observations
            ) -> object:
                try:
                    return decide(index, spec, strategies["balanced"], request, 5, observations)
                except NoChannelError as error:  # the 404 path is timed too
                    return error

            r50, r99 = percentiles(resolve, args.runs)
            d50, d99 = percentiles(decision, args.runs)
            print(f"{size:>8} {name:<26} {matches:>7} {r50:>11.4f} {r99:>8.4f} {d50:>10.4f} {d99:>8.4f}")
        print(f"{'':>8} (index of {size} channels, {index.tag_count} tags built in {build_ms:.1f} ms)")


if __name__ == "__main__":
    main()
