"""On the PYTHONPATH of the workers test's proxy: every worker process uvicorn spawns waits
SLOW_SPAWN_S seconds before anything runs in it, as it does while a slow machine imports LiteLLM
(11-25 s measured on a 2-core box). uvicorn's default health check kills a worker that has not
answered within 5 s, so without our longer timeout no worker would ever serve."""

import os
import sys
import time

if "--multiprocessing-fork" in sys.argv and os.environ.get("SLOW_SPAWN_S"):
    time.sleep(float(os.environ["SLOW_SPAWN_S"]))
