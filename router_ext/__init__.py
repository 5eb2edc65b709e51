"""The LiteLLM integration: the proxy hook, our admin routes, settings and state.

Only this package imports LiteLLM. Load it in a LiteLLM config with
`litellm_settings: {callbacks: ["router_ext.hook.proxy_handler"]}`.
"""

import time

IMPORT_STARTED = time.perf_counter()  # the package's start-up cost is logged once the hook is ready
