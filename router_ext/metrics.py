"""`GET /routing/metrics`: Prometheus text format (prometheus-client), in our own registry so
LiteLLM's metrics (if enabled) are untouched.

Counters and the decision-time histogram are updated as events happen; breaker states, spend,
discovery and price results are read from the router's state when scraped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2, "disabled": 3}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "smart_router_requests",
            "Requests by the channel that answered (or was tried last) and outcome",
            ["channel", "status"],
            registry=self.registry,
        )
        self.attempt_failures = Counter(
            "smart_router_attempt_failures",
            "Failed attempts by channel and error class (failover included)",
            ["channel", "error_class"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "smart_router_route_decision_seconds",
            "Time to resolve, filter, score and rank a virtual name",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
            registry=self.registry,
        )

    def attach(self, source: MetricSource) -> None:
        self.registry.register(StateCollector(source))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricSource(Protocol):
    """What the runtime tells a scrape (its public read methods)."""

    def breaker_states(self) -> Iterable[tuple[str, str]]: ...

    def global_spend(self) -> Mapping[str, float]: ...

    def global_budgets(self) -> Mapping[str, float]: ...

    def discovery_state(self) -> Mapping[str, Any]: ...

    def price_source_state(self) -> Mapping[str, tuple[int, bool]]: ...

    def jobs(self) -> Mapping[str, Any]: ...


class StateCollector(Collector):
    def __init__(self, source: MetricSource) -> None:
        self.source = source

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape time only (describing would need the running proxy)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        source = self.source
        breakers = GaugeMetricFamily(
            "smart_router_breaker_state",
            "Breaker per channel: 0 closed, 1 half-open, 2 open, 3 disabled",
            labels=["channel"],
        )
        for channel_id, state in source.breaker_states():
            breakers.add_metric([channel_id], BREAKER_VALUE.get(state, 0))
        yield breakers
        spend = GaugeMetricFamily("smart_router_spend_usd", "Global spend this period", labels=["period"])
        for period, usd in source.global_spend().items():
            spend.add_metric([period], usd)
        yield spend
        limits = GaugeMetricFamily("smart_router_budget_usd", "Configured global budgets", labels=["period"])
        for period, usd in source.global_budgets().items():
            limits.add_metric([period], usd)
        yield limits
        listed = GaugeMetricFamily(
            "smart_router_discovered_models", "Models listed per wildcard", labels=["source"]
        )
        failing = GaugeMetricFamily(
            "smart_router_discovery_failing",
            "1 when the last listing of a wildcard failed",
            labels=["source"],
        )
        for wildcard, state in source.discovery_state().items():
            listed.add_metric([wildcard], float(state["models"] or 0))
            failing.add_metric([wildcard], 1.0 if state["last_error"] else 0.0)
        yield listed
        yield failing
        prices = GaugeMetricFamily("smart_router_prices", "Prices known per channel", labels=["channel"])
        price_failing = GaugeMetricFamily(
            "smart_router_price_source_failing",
            "1 when the last scrape of a channel failed",
            labels=["channel"],
        )
        for channel, (known, failed) in source.price_source_state().items():
            prices.add_metric([channel], float(known))
            price_failing.add_metric([channel], 1.0 if failed else 0.0)
        yield prices
        yield price_failing
        jobs = GaugeMetricFamily(
            "smart_router_job_runs", "Scheduled job runs on this replica", labels=["job"]
        )
        for name, state in source.jobs().items():
            jobs.add_metric([name], float(state["runs"]))
        yield jobs
