"""Number checks shared by request bodies and stored channels. No LiteLLM here: the command line
imports this before it starts the proxy, and importing LiteLLM costs seconds."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite, as a float can hold it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of 400 digits
        return False
