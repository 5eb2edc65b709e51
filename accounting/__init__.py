"""Money: what a request cost, what a session / key / everyone spent, and the budgets that cap it.

Plain Python over plain data; `router_ext` feeds it usage from LiteLLM and records it in SQL.
"""
