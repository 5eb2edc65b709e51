"""The LiteLLM integration: the proxy hook, our admin routes, settings and state.

Only this package imports LiteLLM. Load it in a LiteLLM config with
`litellm_settings: {callbacks: ["router_ext.hook.proxy_handler"]}`.
"""
