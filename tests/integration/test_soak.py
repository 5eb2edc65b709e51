"""The 60-second soak (`make soak` runs 10 minutes): random upstream failures, one healthy
channel, 20 clients: no client error, a record for every request, and the figures printed."""

from __future__ import annotations

import json

from scripts.soak import run


def test_a_minute_of_random_upstream_failures_reaches_no_client() -> None:
    soak = run(seconds=60, concurrency=20)
    print(json.dumps(soak.summary()))  # RSS and open files, start / end / max (pytest -s shows them)
    assert soak.requests > 200
    assert soak.client_errors == 0, soak.errors[:5]
    assert soak.records == soak.requests
