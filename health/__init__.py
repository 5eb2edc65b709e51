"""Channel health: error classification, retry hints, circuit breakers, secret masking.

Plain Python over plain data; `router_ext` feeds it LiteLLM's errors and mirrors it to Redis.
"""
