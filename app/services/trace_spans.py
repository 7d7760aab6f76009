"""The attributes of model, tool and retrieval spans (OpenTelemetry GenAI semantic conventions, plus the
OpenInference names Phoenix reads) and the tracing wrappers of the LLM, tool, retrieval and HTTP ports. Used by
`run_trace`; content attributes are filled only when the run trace allows content (masked there)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.engine.ports import (
    KnowledgeRetriever,
    LLMGateway,
    LLMRequest,
    LLMResult,
    ToolRef,
    ToolResult,
    ToolRuntime,
    ToolSpec,
)
from app.logs import mask_keys
from app.providers.llm import provider_key

if TYPE_CHECKING:
    from app.services.run_trace import RunTrace

# Request parameters as Dify's model config names them -> GenAI attribute.
REQUEST_PARAMS = {"temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
                  "max_tokens": "gen_ai.request.max_tokens", "presence_penalty": "gen_ai.request.presence_penalty",
                  "frequency_penalty": "gen_ai.request.frequency_penalty", "seed": "gen_ai.request.seed"}


def llm_request_attributes(request: LLMRequest, trace: RunTrace) -> dict[str, Any]:
    system = provider_key(request.provider) or "openai"
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM", "gen_ai.operation.name": "chat", "gen_ai.system": system,
        "gen_ai.provider.name": system, "gen_ai.request.model": request.model, "llm.model_name": request.model,
        "llm.provider": system}
    for name, key in REQUEST_PARAMS.items():
        value = request.params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[key] = value
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    content = trace.content(messages)
    if content is not None:
        attributes["gen_ai.input.messages"] = content
        attributes["input.value"] = content
        attributes["input.mime_type"] = "application/json"
    return attributes


def llm_result_attributes(result: LLMResult, latency: float, trace: RunTrace) -> dict[str, Any]:
    usage = result.usage
    attributes: dict[str, Any] = {
        "gen_ai.response.model": result.model or None, "gen_ai.response.finish_reasons": [result.finish_reason],
        "gen_ai.usage.input_tokens": usage.prompt_tokens, "gen_ai.usage.output_tokens": usage.completion_tokens,
        "llm.token_count.prompt": usage.prompt_tokens, "llm.token_count.completion": usage.completion_tokens,
        "llm.token_count.total": usage.total_tokens, "trellis.llm.latency": latency}
    content = trace.content(result.text)
    if content is not None:
        attributes["gen_ai.output.messages"] = json.dumps(
            [{"role": "assistant", "content": content, "finish_reason": result.finish_reason}], ensure_ascii=False)
        attributes["output.value"] = content
    return attributes


class TracedTools:
    """A ToolRuntime that records each invocation as an `execute_tool` span under the calling node."""

    def __init__(self, inner: ToolRuntime, trace: RunTrace) -> None:
        self._inner = inner
        self._trace = trace

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        return self._inner.describe(workspace_id, ref)

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        span = self._trace.child(f"execute_tool {ref.tool_name}", {
            "openinference.span.kind": "TOOL", "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": ref.tool_name, "tool.name": ref.tool_name, "trellis.tool.provider": ref.provider_id,
            "trellis.tool.provider_type": ref.provider_type,
            "input.value": self._trace.content(arguments)})
        try:
            result = self._inner.invoke(workspace_id, ref, arguments)
        except Exception as exc:
            span.end(error=mask_keys(str(exc)))
            raise
        span.set({"output.value": self._trace.content(result.text or list(result.json))})
        span.end()
        return result


class TracedRetriever:
    """A KnowledgeRetriever that records each query as a retrieval span under the calling node."""

    def __init__(self, inner: KnowledgeRetriever, trace: RunTrace) -> None:
        self._inner = inner
        self._trace = trace

    def retrieve(self, workspace_id: str, dataset_ids: list[str], query: str, top_k: int,
                 score_threshold: float | None, search_method: str) -> list[dict[str, Any]]:
        span = self._trace.child("retrieval", {
            "openinference.span.kind": "RETRIEVER", "gen_ai.operation.name": "retrieval",
            "trellis.retrieval.top_k": top_k, "trellis.retrieval.method": search_method,
            "trellis.retrieval.datasets": list(dataset_ids), "input.value": self._trace.content(query)})
        try:
            chunks = self._inner.retrieve(workspace_id, dataset_ids, query, top_k, score_threshold, search_method)
        except Exception as exc:
            span.end(error=mask_keys(str(exc)))
            raise
        span.set({"trellis.retrieval.results": len(chunks)})
        span.end()
        return chunks


class TracedHttp:
    """The egress-guarded HTTP client port, recording each request as a client span under the calling node
    (HTTP semantic conventions; the URL without its query, key-shaped strings masked)."""

    def __init__(self, inner: Any, trace: RunTrace) -> None:
        self._inner = inner
        self._trace = trace

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        span = self._trace.child(f"HTTP {method.upper()}", {
            "http.request.method": method.upper(), "url.full": mask_keys(url.split("?", 1)[0]),
            "server.address": urlsplit(url).hostname})
        try:
            reply = self._inner.request(method, url, **kwargs)
        except Exception as exc:
            span.end(error=mask_keys(str(exc)))
            raise
        status = int(getattr(reply, "status_code", 0) or 0)
        span.set({"http.response.status_code": status})
        span.end(error=f"HTTP {status}" if status >= 500 else None)
        return reply


class TracedLLM:
    """An LLMGateway that records each call as a GenAI span under the calling node."""

    def __init__(self, inner: LLMGateway, trace: RunTrace) -> None:
        self._inner = inner
        self._trace = trace

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        span = self._trace.child(f"chat {request.model}", llm_request_attributes(request, self._trace))
        started = time.perf_counter()
        try:
            result = self._inner.complete(request, on_delta)
        except Exception as exc:
            span.end(error=mask_keys(str(exc)))
            raise
        span.set(llm_result_attributes(result, time.perf_counter() - started, self._trace))
        span.end()
        return result
