"""Estimated cost of one request on each channel, in USD."""

from __future__ import annotations

import numpy as np

from catalog.index import TagIndex


def price_arrays(index: TagIndex) -> tuple[np.ndarray, np.ndarray]:
    """Input/output USD per token; NaN = unknown. A local channel without a price costs 0:
    running a model on your own machine is not billed per token."""
    cached = index.cache.get("input_price")
    if cached is None:
        nan = float("nan")
        inputs, outputs = [], []
        for channel in index.channels:
            unpriced = channel.input_cost_per_token is None and channel.output_cost_per_token is None
            default = 0.0 if (unpriced and channel.local) else nan
            inputs.append(default if channel.input_cost_per_token is None else channel.input_cost_per_token)
            outputs.append(
                default if channel.output_cost_per_token is None else channel.output_cost_per_token
            )
        index.cache["input_price"] = np.asarray(inputs, dtype=np.float64)
        index.cache["output_price"] = np.asarray(outputs, dtype=np.float64)
        cached = index.cache["input_price"]
    return cached, index.cache["output_price"]


def estimated_cost(
    index: TagIndex, candidates: np.ndarray, prompt_tokens: int, output_tokens: int, everyone: bool = False
) -> np.ndarray:
    """USD for this request on each candidate; NaN where the price is unknown. `everyone`: the
    candidates are all channels (no gather needed)."""
    input_price, output_price = price_arrays(index)
    if not everyone:
        input_price, output_price = input_price[candidates], output_price[candidates]
    cost = input_price * prompt_tokens
    cost += output_price * output_tokens
    return cost


def prices_unknown(index: TagIndex) -> bool:
    """Whether any channel's price is unknown (then costs need the NaN-aware normalisation)."""
    cached = index.cache.get("prices_unknown")
    if cached is None:
        input_price, output_price = price_arrays(index)
        cached = index.cache["prices_unknown"] = np.asarray(
            bool(np.isnan(input_price).any() or np.isnan(output_price).any())
        )
    return bool(cached)
