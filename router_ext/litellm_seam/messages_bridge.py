"""Anthropic Messages sent to an OpenAI-style channel: LiteLLM turns them into a Responses call,
which most OpenAI-compatible upstreams do not serve; chat completions every one does.

Relies on the module flag `litellm.use_chat_completions_url_for_anthropic_messages` (read per call
by LiteLLM's Messages handler; checked on 1.108.7 and 1.110.2). Channels with a native Messages API
(Anthropic, or `model_info.supported_endpoints: ["/v1/messages"]`) are still called natively:
LiteLLM checks that first. The environment variable, when set, keeps the operator's choice.
"""

from __future__ import annotations

import os

ENV = "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES"


def bridge_messages_through_chat() -> None:
    import litellm

    if ENV not in os.environ:
        litellm.use_chat_completions_url_for_anthropic_messages = True
