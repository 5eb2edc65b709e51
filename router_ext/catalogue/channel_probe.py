"""`POST /routing/channels/{id}/test`: one small real call to a deployment (a 1-token chat, or a
one-word embedding for an embedding model), its latency, and the error class our classifier
gives a failure. Outside the routing: it neither counts against the breakers nor costs a
client's budget."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from health.masking import mask_secrets
from router_ext import deployment as shape
from router_ext.state.channel_health import classify_exception

TEST_TIMEOUT_S = 20.0


def _resolved(params: Mapping[str, Any]) -> dict[str, Any]:
    from litellm import get_secret

    return {
        k: (get_secret(v) if isinstance(v, str) and v.startswith("os.environ/") else v)
        for k, v in params.items()
        if v is not None
    }


async def probe_deployment(deployment: Mapping[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    import litellm

    params = _resolved(shape.params(deployment))
    known = {*secrets, str(params.get("api_key") or "")}
    mode = str(shape.info(deployment).get("mode") or "chat")
    started = time.perf_counter()
    result: dict[str, Any] = {"deployment": shape.deployment_id(deployment), "mode": mode}
    try:
        if mode == "embedding":
            await litellm.aembedding(input=["ping"], timeout=TEST_TIMEOUT_S, num_retries=0, **params)
        else:
            await litellm.acompletion(
                messages=[{"role": "user", "content": "ping"}],
                max_tokens=1,
                timeout=TEST_TIMEOUT_S,
                num_retries=0,
                **params,
            )
    except Exception as error:  # noqa: BLE001  # every upstream failure is an answer here
        verdict = classify_exception(error, time.time())
        return {
            **result,
            "ok": False,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "status": verdict.status,
            "error_class": verdict.kind.value,
            "error_reason": verdict.reason,
            "message": mask_secrets(verdict.message, known)[:300],
        }
    return {
        **result,
        "ok": True,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "status": 200,
        "error_class": None,
        "error_reason": None,
        "message": None,
    }
