"""Time as the store and the budgets see it: aware UTC datetimes."""

from __future__ import annotations

import datetime as dt
import time


def utc_now() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time(), tz=dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes for what was written as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
