"""What the dashboard draws, from the request records: per day (UTC) spend by channel and by
model, requests and errors; latency p50 / p95 per channel; free vs paid. Grouped in SQL by day
(`date()` reads the same on SQLite and PostgreSQL); percentiles from the newest samples."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from router_ext.store.record_store import requests

LATENCY_SAMPLES = 50_000  # newest successful answers that the percentiles are taken over


def _percentile(sorted_values: list[float], share: float) -> float:
    at = min(len(sorted_values) - 1, max(0, round(share * (len(sorted_values) - 1))))
    return round(sorted_values[at], 1)


async def chart_data(engine: AsyncEngine, days: int, today: dt.date) -> dict[str, Any]:
    first = today - dt.timedelta(days=days - 1)
    labels = [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]
    position = {label: i for i, label in enumerate(labels)}
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    r = requests.c
    day = sa.func.date(r.created_at)
    errors = sa.func.sum(sa.case((r.status != "success", 1), else_=0))
    cost = sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0)
    served = r.status == "success"  # a failed request is neither free nor paid
    free = sa.func.sum(sa.case((sa.and_(served, sa.func.coalesce(r.cost_usd, 0.0) == 0), 1), else_=0))
    paid = sa.func.sum(sa.case((sa.and_(served, sa.func.coalesce(r.cost_usd, 0.0) > 0), 1), else_=0))
    async with engine.connect() as conn:
        grouped = (
            await conn.execute(
                sa.select(day, r.deployment_id, r.upstream_model, sa.func.count(), errors, cost, free, paid)
                .where(r.created_at >= since)
                .group_by(day, r.deployment_id, r.upstream_model)
            )
        ).all()
        samples = (
            await conn.execute(
                sa.select(r.deployment_id, r.latency_ms)
                .where(r.created_at >= since, r.status == "success", r.latency_ms.is_not(None))
                .order_by(r.created_at.desc())
                .limit(LATENCY_SAMPLES)
            )
        ).all()
    zeros = [0.0] * days
    by_channel: dict[str, dict[str, list[float]]] = {}
    by_model: dict[str, list[float]] = {}
    total_requests, total_errors = list(zeros), list(zeros)
    share = {"free": {"requests": 0, "cost_usd": 0.0}, "paid": {"requests": 0, "cost_usd": 0.0}}
    for label, channel, model, count, failed, spent, free_count, paid_count in grouped:
        at = position.get(str(label)[:10])
        if at is None:
            continue
        channel, model = str(channel or "none"), str(model or "none")
        row = by_channel.setdefault(
            channel, {"cost_usd": list(zeros), "requests": list(zeros), "errors": list(zeros)}
        )
        row["cost_usd"][at] += float(spent or 0.0)
        row["requests"][at] += int(count)
        row["errors"][at] += int(failed or 0)
        by_model.setdefault(model, list(zeros))[at] += float(spent or 0.0)
        total_requests[at] += int(count)
        total_errors[at] += int(failed or 0)
        share["free"]["requests"] += int(free_count or 0)
        share["paid"]["requests"] += int(paid_count or 0)
        share["paid"]["cost_usd"] += float(spent or 0.0)
    latencies: dict[str, list[float]] = {}
    for channel, latency in samples:
        latencies.setdefault(str(channel), []).append(float(latency))
    latency = []
    for channel, values in sorted(latencies.items()):
        values.sort()
        latency.append(
            {
                "channel": channel,
                "p50_ms": _percentile(values, 0.5),
                "p95_ms": _percentile(values, 0.95),
                "samples": len(values),
            }
        )
    return {
        "days": labels,
        "requests": [int(v) for v in total_requests],
        "errors": [int(v) for v in total_errors],
        "spend_by_channel": {
            c: [round(v, 8) for v in row["cost_usd"]] for c, row in sorted(by_channel.items())
        },
        "requests_by_channel": {
            c: [int(v) for v in row["requests"]] for c, row in sorted(by_channel.items())
        },
        "spend_by_model": {m: [round(v, 8) for v in values] for m, values in sorted(by_model.items())},
        "latency": latency,
        "free_vs_paid": share,
    }
