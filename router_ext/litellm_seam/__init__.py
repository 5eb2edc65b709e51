"""The one place that knows LiteLLM's internals: everything of LiteLLM that is not its documented
surface (the `CustomLogger` hooks, the Router's public methods, `litellm.acompletion` and friends,
exceptions and types) is reached through a named function or class here, with a docstring saying
what it relies on and the LiteLLM versions it was checked against.

- `internals.py`: the inventory of every internal we use, with a probe that checks it is there
  in the shape we expect; `features.py` turns the probes into features that are on or off at
  start, with one log line each that is off.
- `proxy_globals.py`: the proxy's module globals (the Router, master key, settings, app, ...).
- `router_registry.py`: the Router's deployments, read and changed in batches, per version.
- `types.py`: the proxy's exception and auth types.
- the features built on internals: `chat_relay.py` (+ `relay_call.py`, `relay_client.py`), the
  body guard (`body_guard.py`), the Messages answer shape and model listing (`routes.py`),
  `workers.py`, `tokens.py`, `callback_kwargs.py`.

A test (tests/unit/test_litellm_seam.py) fails when a module outside this package imports a LiteLLM
internal. Importing this package imports no LiteLLM: `smart-router serve` loads it before the proxy.
"""
