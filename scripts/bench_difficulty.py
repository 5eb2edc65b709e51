"""Prompt-difficulty routing: the classifier against the labelled workload, what `auto:smart`
costs against always the strongest or always the cheapest channel, and the decision's price.

    uv run python -m scripts.bench_difficulty [--runs 2000]

1. agreement with tests/fixtures/difficulty/prompts.jsonl (323 prompts, EN + ZH), confusion
   matrix (rows: the label, columns: the classifier);
2. the workload routed over free small, cheap medium and expensive strong channels (qualities
   from the sourced table): cost of auto:smart vs always the strongest vs always the cheapest;
   share of labelled complex / reasoning prompts served at or above their label's floor; share
   of labelled simple prompts served free or cheap;
3. classifier p50 / p99 on 2,000-token prompts (prose, code, Chinese) and a 1 MB one;
   decision (classify + floor + filter + rank, `auto:smart`) p50 / p99 at 1,000 and 10,000
   deployments.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from accounting.cost import Usage, price_cost
from catalog.channel import Channel
from catalog.index import TagIndex
from catalog.tags import merge_tags
from catalog.virtual import BUILTIN_VIRTUAL_MODELS
from scripts.bench_routing import percentiles, synthetic_catalog
from strategies.base import RequestFacts
from strategies.decision import decide
from strategies.difficulty import TIERS, PromptView, classify
from strategies.floor import DEFAULT_FLOORS, Floor
from strategies.observations import Observations
from strategies.quality import channel_quality, quality_array
from strategies.registry import build_strategies

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "difficulty" / "prompts.jsonl"
# Output tokens a prompt of each tier typically asks for (the cost comparison's only guess).
OUTPUT_TOKENS = {"simple": 80, "medium": 400, "complex": 1200, "reasoning": 2500}
CHANNELS = [
    # (id, upstream model, USD per input token, per output token): qualities from the table
    ("free-llama-8b", "openrouter/meta-llama/llama-3.1-8b-instruct:free", 0.0, 0.0),
    ("free-llama-3b", "openrouter/meta-llama/llama-3.2-3b-instruct:free", 0.0, 0.0),
    ("cheap-gpt-4o-mini", "openai/gpt-4o-mini", 1.5e-7, 6e-7),
    ("cheap-deepseek-v3", "deepseek/deepseek-chat", 2.7e-7, 1.1e-6),
    ("mid-deepseek-r1", "deepseek/deepseek-reasoner", 5.5e-7, 2.19e-6),
    ("strong-sonnet", "anthropic/claude-sonnet-4-5", 3e-6, 1.5e-5),
    ("strong-gemini-pro", "gemini/gemini-2.5-pro", 1.25e-6, 1e-5),
]


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def view(row: dict[str, Any]) -> PromptView:
    return PromptView(
        row["prompt"], row.get("system", ""), (row.get("turns") or 0) + 1, row.get("tools") or 0
    )


def agreement(workload: list[dict[str, Any]]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for lang in ("en", "zh", "all"):
        chosen = [r for r in workload if lang == "all" or r["lang"] == lang]
        predicted = [classify(view(r)) for r in chosen]
        pairs = list(zip(chosen, predicted, strict=True))
        report[lang] = {
            "prompts": len(chosen),
            "tier": sum(p.tier == r["tier"] for r, p in pairs) / len(chosen),
            "within_one_tier": sum(abs(TIERS.index(p.tier) - TIERS.index(r["tier"])) <= 1 for r, p in pairs)
            / len(chosen),
            "kind": sum(p.kind == r["kind"] for r, p in pairs) / len(chosen),
        }
        if lang == "all":
            counts = Counter((r["tier"], p.tier) for r, p in pairs)
            report["confusion"] = {t: {p: counts[(t, p)] for p in TIERS} for t in TIERS}
    return report


def catalogue() -> TagIndex:
    channels = []
    for channel_id, upstream, price_in, price_out in CHANNELS:
        channels.append(
            Channel(
                id=channel_id,
                model_name=channel_id,
                upstream_model=upstream,
                provider=upstream.split("/")[0],
                channel=channel_id,
                tags=merge_tags([upstream]),
                input_cost_per_token=price_in,
                output_cost_per_token=price_out,
                price_verified=True,
            )
        )
    return TagIndex(channels)


def routed_workload(workload: list[dict[str, Any]]) -> dict[str, Any]:
    index = catalogue()
    observations = Observations(index)
    strategies = build_strategies()
    quality = quality_array(index)
    strongest = max(index.channels, key=lambda c: (channel_quality(c), c.output_cost_per_token or 0))
    cheapest = min(index.channels, key=lambda c: (c.output_cost_per_token or 0, -channel_quality(c)))
    costs = {"auto:smart": 0.0, "strongest": 0.0, "cheapest": 0.0}
    at_floor = {"complex": [0, 0], "reasoning": [0, 0]}
    at_own_floor = [0, 0]  # complex / reasoning as classified: served at or above that floor
    simple_free_or_cheap = [0, 0]
    served_by: Counter[str] = Counter()
    spec = BUILTIN_VIRTUAL_MODELS["auto:smart"]
    for row in workload:
        difficulty = classify(view(row))
        tokens = len(row["prompt"]) // 3 + 20
        usage = Usage(tokens, OUTPUT_TOKENS[row["tier"]])
        facts = RequestFacts(
            prompt_tokens=tokens, max_output_tokens=usage.completion_tokens, difficulty=difficulty
        )
        floor = Floor(
            difficulty.tier,
            DEFAULT_FLOORS[difficulty.tier],
            difficulty.kind,
            quality,
            needs_reasoning=difficulty.tier == "reasoning",
        )
        channel = decide(index, spec, strategies["cost_first"], facts, 5, observations, floor=floor).ranked[0]
        served_by[channel.id] += 1
        costs["auto:smart"] += price_cost(channel, usage) or 0.0
        costs["strongest"] += price_cost(strongest, usage) or 0.0
        costs["cheapest"] += price_cost(cheapest, usage) or 0.0
        if difficulty.tier in at_floor:
            at_own_floor[1] += 1
            at_own_floor[0] += channel_quality(channel) >= DEFAULT_FLOORS[difficulty.tier]
        if row["tier"] in at_floor:
            at_floor[row["tier"]][1] += 1
            at_floor[row["tier"]][0] += channel_quality(channel) >= DEFAULT_FLOORS[row["tier"]]
        if row["tier"] == "simple":
            simple_free_or_cheap[1] += 1
            simple_free_or_cheap[0] += (channel.output_cost_per_token or 0.0) <= 1e-6
    return {
        "cost_usd": {k: round(v, 6) for k, v in costs.items()},
        "smart_over_strongest": costs["auto:smart"] / costs["strongest"],
        "labelled_at_or_above_floor": {t: ok / n for t, (ok, n) in at_floor.items()},
        "classified_hard_at_or_above_floor": at_own_floor[0] / at_own_floor[1],
        "simple_served_free_or_cheap": simple_free_or_cheap[0] / simple_free_or_cheap[1],
        "served_by": dict(served_by.most_common()),
        "strongest": strongest.id,
        "cheapest": cheapest.id,
    }


def classifier_speed(runs: int) -> dict[str, dict[str, float]]:
    code = (ROOT / "router_ext" / "runtime" / "request_flow.py").read_text(encoding="utf-8")[:8000]
    prose = " ".join(r["prompt"] for r in rows() if r["lang"] == "en")[:8000]
    chinese = "".join(r["prompt"] for r in rows() if r["lang"] == "zh")[:2600]
    cases = {
        "prose 2k tokens": prose,
        "code 2k tokens": code,
        "chinese 2k tokens": chinese,
        "1 MB": prose * 125,
    }
    result = {}
    for name, text in cases.items():
        prompt = PromptView(text + "\nWhat is wrong here? Explain step by step.")

        def once(prompt: PromptView = prompt) -> object:
            return classify(prompt)

        p50, p99 = percentiles(once, runs)
        result[name] = {"p50_ms": p50, "p99_ms": p99}
        print(f"  classify {name:<18} p50 {p50:.4f} ms  p99 {p99:.4f} ms", flush=True)
    return result


def decision_speed(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    strategies = build_strategies()
    spec = BUILTIN_VIRTUAL_MODELS["auto:smart"]
    prompt = PromptView(" ".join(r["prompt"] for r in rows() if r["tier"] == "complex")[:8000])
    out = []
    for size in sizes:
        index = TagIndex(synthetic_catalog(size))
        observations = Observations(index)

        def once(index: TagIndex = index, observations: Observations = observations) -> object:
            difficulty = classify(prompt)
            facts = RequestFacts(prompt_tokens=2000, max_output_tokens=512, difficulty=difficulty)
            floor = Floor(
                difficulty.tier,
                DEFAULT_FLOORS[difficulty.tier],
                difficulty.kind,
                observations.learned.quality_for(index, difficulty.kind),
                needs_reasoning=difficulty.tier == "reasoning",
            )
            return decide(index, spec, strategies["cost_first"], facts, 5, observations, floor=floor)

        once()  # the per-catalogue arrays (quality, reasoning) are built once per catalogue
        p50, p99 = percentiles(once, runs)
        out.append({"deployments": size, "p50_ms": p50, "p99_ms": p99})
        print(f"  auto:smart decision {size:>6} p50 {p50:.4f} ms  p99 {p99:.4f} ms", flush=True)
    return out


def bench_difficulty(runs: int = 2000) -> dict[str, Any]:
    workload = rows()
    report: dict[str, Any] = {"agreement": agreement(workload)}
    for lang in ("en", "zh", "all"):
        a = report["agreement"][lang]
        print(
            f"  classifier {lang:<3} tier {a['tier']:.3f}  within one tier {a['within_one_tier']:.3f}  "
            f"kind {a['kind']:.3f}  ({a['prompts']} prompts)",
            flush=True,
        )
    print("  confusion (rows: label, columns: classifier): " + json.dumps(report["agreement"]["confusion"]))
    report["routing"] = routed_workload(workload)
    r = report["routing"]
    print(
        f"  cost USD: auto:smart {r['cost_usd']['auto:smart']:.4f}, always the strongest ({r['strongest']}) "
        f"{r['cost_usd']['strongest']:.4f}, always the cheapest ({r['cheapest']}) {r['cost_usd']['cheapest']:.4f}; "
        f"classified complex / reasoning at or above their floor {r['classified_hard_at_or_above_floor']:.3f}; "
        f"labelled complex / reasoning at or above their floor "
        f"{r['labelled_at_or_above_floor']['complex']:.3f} / {r['labelled_at_or_above_floor']['reasoning']:.3f}; "
        f"labelled simple served free or cheap {r['simple_served_free_or_cheap']:.3f}",
        flush=True,
    )
    report["classifier"] = classifier_speed(runs)
    report["decision"] = decision_speed([1000, 10000], runs)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    bench_difficulty(args.runs)


if __name__ == "__main__":
    main()
