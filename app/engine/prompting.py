"""One-shot model calls for nodes that ask a model a structured question (question-classifier,
parameter-extractor): build the request, honour stop while it streams, and read a JSON object back.

Goes through the LLM port only; no I/O of its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.engine.nodes.base import NodeContext
from app.engine.nodes.llm import PASSTHROUGH_PARAMS, ModelConfig
from app.engine.ports import ChatMessage, LLMRequest, LLMResult
from app.errors import RunStopped

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def complete(ctx: NodeContext, model: ModelConfig, messages: list[ChatMessage],
             response_format: dict[str, Any] | None = None) -> LLMResult:
    """Call the model without streaming chunks to the client. Raises RunStopped when a stop arrives mid-call,
    and whatever the LLM port raises (ProviderRequestError, ProviderNotInitialize)."""
    params = {k: v for k, v in model.completion_params.items() if k in PASSTHROUGH_PARAMS}
    request = LLMRequest(provider=model.provider, model=model.name, messages=tuple(messages), mode=model.mode,
                         params=params, response_format=response_format)

    def on_delta(_text: str) -> None:
        if ctx.should_stop():
            raise RunStopped()

    return ctx.llm.complete(request, on_delta)


def usage_of(result: LLMResult) -> dict[str, int]:
    return {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens}


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's answer (bare, fenced in ``` or embedded in prose), else None."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, ch in enumerate(candidate) if ch == "{"][:20]:
            try:
                value, _ = decoder.raw_decode(candidate[start:])
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
