"""Event-loop time of the catalogue's writes to LiteLLM's Router at N deployments: the first index
(it sets `token_count_framing` on OpenAI-compatible channels), a price refresh that changes every
price, a price window opening, and a reload that changes nothing (the writes after the first index
come after the start-up heap is frozen, as in the proxy). Each is one batch
(router_ext/litellm_seam/router_registry.py); target <= 200 ms at 1,000 deployments on every
LiteLLM version we support.

    python -m scripts.bench_catalogue [--size 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

from router_ext.catalogue.catalogue import Catalogue
from router_ext.catalogue.price_book import PriceBook, Quote
from router_ext.catalogue.reload import ReloadResult, apply_model_list
from router_ext.litellm_seam import router_registry
from router_ext.litellm_seam.version import litellm_version
from router_ext.runtime.heap import freeze_startup_heap
from router_ext.settings import PriceSettings, PriceWindow
from scrapers.prices import Price

TARGET_MS = 200.0


def model_list(size: int) -> list[dict[str, Any]]:
    return [
        {
            "model_name": f"m-{i}",
            "litellm_params": {
                "model": f"openai/m-{i}",
                "api_base": f"http://127.0.0.1:{9000 + i % 7}/v1",
                "api_key": "sk-bench",
            },
            "model_info": {"id": f"d-{i}", "channel": "bench"},
        }
        for i in range(size)
    ]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def bench_catalogue_writes(size: int) -> dict[str, Any]:
    from litellm import Router

    deployments = model_list(size)
    router = Router(model_list=[dict(d) for d in deployments])
    catalogue = Catalogue(lambda: router)
    started = time.perf_counter()
    catalogue.index()
    first_index = _ms(started)
    framed = sum(
        1 for d in router_registry.deployments(router) if d["model_info"].get("token_count_framing") == 0
    )
    # As the proxy does once its start-up work is done (smart_router.freeze_heap): without it a
    # full collector pass over LiteLLM's heap (~0.3 s) lands in whichever write comes next.
    freeze_startup_heap()
    try:
        return _writes(router, catalogue, deployments, size, first_index, framed)
    finally:
        gc.unfreeze()


def _writes(
    router: Any,
    catalogue: Catalogue,
    deployments: list[dict[str, Any]],
    size: int,
    first_index: float,
    framed: int,
) -> dict[str, Any]:

    now = time.time()
    book = PriceBook(PriceSettings(), lambda: router, lambda: None, catalogue.invalidate)
    book.quotes = {"bench": {f"m-{i}": Quote(Price(1e-6, 2e-6, "bench"), now) for i in range(size)}}
    started = time.perf_counter()
    priced = book.apply(now)
    price_refresh = _ms(started)

    minute = time.gmtime(now).tm_hour * 60 + time.gmtime(now).tm_min
    start = f"{minute // 60:02d}:{minute % 60:02d}"
    end = f"{(minute + 2) // 60 % 24:02d}:{(minute + 2) % 60:02d}"
    book.settings = PriceSettings(windows=[PriceWindow(channel="bench", start=start, end=end, factor=0.5)])
    started = time.perf_counter()
    book.apply(now)
    price_window = _ms(started)
    halved = router_registry.deployment_entry(router, "d-0")["model_info"]["input_cost_per_token"]  # type: ignore[index]

    started = time.perf_counter()
    result = ReloadResult()
    apply_model_list(router, deployments, result)
    reload_no_change = _ms(started)
    return {
        "litellm": litellm_version(),
        "deployments": size,
        "first_index_ms": first_index,
        "price_refresh_ms": price_refresh,
        "price_window_ms": price_window,
        "reload_no_change_ms": reload_no_change,
        "checks": {
            "framed": framed == size,
            "priced": priced == size,
            "window_applied": abs(halved - 0.5e-6) < 1e-12,
            "reload_changed_nothing": not (result.added or result.removed or result.changed),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1000)
    figures = bench_catalogue_writes(parser.parse_args().size)
    print(json.dumps(figures, indent=2))
    worst = max(v for k, v in figures.items() if k.endswith("_ms"))
    print(f"worst {worst:.0f} ms of event-loop time (target <= {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
