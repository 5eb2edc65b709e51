"""LiteLLM's bundled tokenizer (cl100k, from its own files: no download).

Relies on `litellm.litellm_core_utils.default_encoding.encoding`; checked on 1.108.7 and 1.110.2.
"""

from __future__ import annotations

from typing import Any


def default_encoding() -> Any:
    from litellm.litellm_core_utils.default_encoding import encoding

    return encoding
