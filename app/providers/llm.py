"""LLM gateway over the `openai` SDK: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama...).

A Dify provider name (`openai`, `deepseek`, `langgenius/openai/openai`) selects an endpoint; providers with no
endpoint of their own use the default one with the node's model name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.ports import LLMRequest, LLMResult, LLMUsage
from app.errors import ProviderNotInitialize, ProviderRequestError


def provider_key(provider: str) -> str:
    """`langgenius/openai/openai` -> `openai`; bare names pass through, lower-cased."""
    return provider.rstrip("/").rsplit("/", 1)[-1].strip().lower()


def _estimate_tokens(text: str) -> int:
    # Used only when an endpoint streams no usage: about four characters per token for English text.
    return max(1, len(text) // 4) if text else 0


class OpenAICompatibleLLM:
    """One endpoint. `client` is an `openai.OpenAI` (injected so tests can point it anywhere)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        import openai  # the SDK is a hard dependency; imported here to keep module import cheap

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if request.mode == "completion":
            # Completion-mode prompts are sent as one user message: every compatible server speaks chat.
            messages = [{"role": "user", "content": "\n".join(m["content"] for m in messages)}]
        kwargs: dict[str, Any] = dict(request.params)
        if request.response_format:
            kwargs["response_format"] = request.response_format
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        finish = "stop"
        try:
            # The SDK's transport (auth, retries, timeouts, status errors) with the stream read raw: building its
            # typed chunk objects took ~40 % of a worker's CPU on LLM-bound runs (py-spy, issue 9), for three
            # fields we read here.
            with self._client.chat.completions.with_streaming_response.create(
                    model=request.model, messages=messages, stream=True, stream_options={"include_usage": True},
                    **kwargs) as response:
                for chunk in _sse_chunks(response.iter_lines()):
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            parts.append(delta)
                            on_delta(delta)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except openai.APIStatusError as exc:
            raise ProviderRequestError(f"[{request.provider}] {exc.status_code} error from model endpoint: "
                                       f"{_safe_message(exc)}") from exc
        except openai.APIError as exc:  # connection errors, timeouts
            raise ProviderRequestError(f"[{request.provider}] model endpoint failed: {type(exc).__name__}") from exc
        except StreamError as exc:
            raise ProviderRequestError(f"[{request.provider}] model endpoint failed: {exc}") from exc
        text = "".join(parts)
        if usage is not None:
            result_usage = LLMUsage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        else:
            result_usage = LLMUsage(sum(_estimate_tokens(m["content"]) for m in messages), _estimate_tokens(text))
        return LLMResult(text=text, usage=result_usage, finish_reason=finish, model=request.model)


class StreamError(Exception):
    """The endpoint's event stream was malformed or reported an error mid-stream."""


def _sse_chunks(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of an OpenAI-style server-sent event stream, up to `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), `event:` lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise StreamError("malformed event in the stream") from exc
        if not isinstance(chunk, dict):
            raise StreamError("malformed event in the stream")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise StreamError(f"error in the stream: {str(message)[:300]}")
        yield chunk


def _safe_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(getattr(exc, "message", "") or type(exc).__name__)[:300]


class UnconfiguredLLM:
    """Stands in when no endpoint is configured: every call fails the node with Dify's error."""

    def __init__(self, provider: str = "openai") -> None:
        self.provider = provider

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        raise ProviderNotInitialize(
            f"Provider {request.provider} is not initialized: set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
            f"compatible server such as Ollama or vLLM) so model {request.model} can be called.")


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None
    api_key: str | None
    model_aliases: Mapping[str, str]


class LLMRouter:
    """Routes a request to its provider's endpoint, else the default; applies model aliases."""

    def __init__(self, default: Any, routes: Mapping[str, Any] | None = None,
                 aliases: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._default = default
        self._routes = dict(routes or {})
        self._aliases = dict(aliases or {})

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        key = provider_key(request.provider)
        gateway = self._routes.get(key, self._default)
        model = self._aliases.get(key, {}).get(request.model, request.model)
        if model != request.model:
            request = LLMRequest(provider=request.provider, model=model, messages=request.messages,
                                 mode=request.mode, params=request.params, response_format=request.response_format)
        return gateway.complete(request, on_delta)


def build_openai_gateway(base_url: str | None, api_key: str | None, timeout: float) -> OpenAICompatibleLLM:
    """An OpenAI-compatible gateway with a bounded timeout and two retries on transient errors."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=2)
    return OpenAICompatibleLLM(client)
