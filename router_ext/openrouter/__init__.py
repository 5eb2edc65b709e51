"""OpenRouter's API on smart-router's port: clients written for OpenRouter work unchanged.

`wire.py` serves `/api/v1/*` by handing the request to the same route `/v1/*` would reach, with
OpenRouter's routing fields moved out of the body, and shapes the answer as OpenRouter's clients
parse it; `preferences.py` reads those fields; `routing.py` maps them onto our routing (they only
narrow); `api.py` answers `/api/v1/models`, `/key` and `/generation`.
"""
