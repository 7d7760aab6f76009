"""LLM gateway over the `openai` SDK: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama...).

A Dify provider name (`openai`, `deepseek`, `langgenius/openai/openai`) selects an endpoint; providers with no
endpoint of their own use the default one with the node's model name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.engine.ports import ChatMessage, LLMRequest, LLMResult, LLMUsage, ToolCall
from app.errors import ProviderNotInitialize, ProviderRequestError
from app.providers import json_codec


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
        # The SDK (and its HTTP library) are hard dependencies, imported here to keep module import cheap.
        import httpx2
        import openai

        messages = [_wire_message(m) for m in request.messages]
        if request.mode == "completion" and not request.tools:
            # Completion-mode prompts are sent as one user message: every compatible server speaks chat.
            messages = [{"role": "user", "content": "\n".join(m.content for m in request.messages)}]
        kwargs: dict[str, Any] = dict(request.params)
        if request.response_format:
            kwargs["response_format"] = request.response_format
        if request.tools:
            kwargs["tools"] = list(request.tools)
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True,
                                "stream_options": {"include_usage": True}, **kwargs}
        stream = _StreamState(on_delta)
        try:
            # The SDK's own request method (auth, retries, timeouts, status errors) with a body encoded here: the
            # typed `create` walked every message and parameter through its TypedDict transform and encoded the
            # JSON with the standard library, about 1 ms of CPU per call for a body that needs no transform
            # (issue 18). The stream is read raw: building the SDK's typed chunk objects took ~40 % of a worker's
            # CPU on LLM-bound runs (py-spy, issue 9), for the few fields read here.
            response = self._client.post("/chat/completions", cast_to=httpx2.Response, stream=True,
                                         content=json_codec.dumps(body).encode(), options=_post_options())
            try:
                stream.read(response.iter_bytes())
            finally:
                response.close()
        except openai.APIStatusError as exc:
            raise ProviderRequestError(f"[{request.provider}] {exc.status_code} error from model endpoint: "
                                       f"{_safe_message(exc)}") from exc
        except openai.APIError as exc:  # connection errors, timeouts
            raise ProviderRequestError(f"[{request.provider}] model endpoint failed: {type(exc).__name__}") from exc
        except StreamError as exc:
            raise ProviderRequestError(f"[{request.provider}] model endpoint failed: {exc}") from exc
        text = "".join(stream.parts)
        calls = stream.tool_calls()
        if stream.usage is not None:
            usage = stream.usage
            result_usage = LLMUsage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        else:
            prompt = sum(_estimate_tokens(str(m.get("content") or "")) for m in messages)
            result_usage = LLMUsage(prompt, _estimate_tokens(text + "".join(c.arguments for c in calls)))
        return LLMResult(text=text, usage=result_usage, finish_reason=stream.finish, model=request.model,
                         tool_calls=calls)


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    """A chat message in the OpenAI wire shape, tool calls and tool answers included."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [{"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls]
    return wire


class _StreamState:
    """Folds a chat-completion event stream: text deltas (forwarded as they come), usage, the finish reason and
    tool calls, whose id, name and argument text arrive in pieces keyed by `index`.

    The text of the events that one network read brought is forwarded as one delta: a model streaming at its
    pace sends one token per read, so nothing changes there, while a burst (a busy server, a fast local model)
    costs one pass down the worker's event path instead of one per token (issue 18). Deltas still come in
    order and as soon as their bytes are read."""

    def __init__(self, on_delta: Callable[[str], None]) -> None:
        self._on_delta = on_delta
        self.parts: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish = "stop"
        self._calls: dict[int, dict[str, str]] = {}

    def read(self, reads: Iterable[bytes]) -> None:
        """Consume an OpenAI-style server-sent event stream, read by read, up to `[DONE]`. Raises StreamError
        on a malformed event or an error reported mid-stream (after forwarding the text read before it)."""
        rest = b""
        for data in reads:
            if b"\r" in data:  # CR LF or a lone CR ends a line too; a blank line more is harmless here
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            start = len(self.parts)
            try:
                done = self._events(lines)
            finally:
                if len(self.parts) > start:
                    self._on_delta(self.parts[start] if len(self.parts) == start + 1
                                   else "".join(self.parts[start:]))
            if done:
                return

    def _events(self, lines: list[bytes]) -> bool:
        """Fold the `data:` events of complete lines; True at `[DONE]`. One flat loop: it runs per token."""
        parts = self.parts
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments (": ping"), `event:` lines
            data = line[5:].strip()
            if data == b"[DONE]":
                return True
            chunk = _event(data)
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta")
                if delta:
                    if delta.get("content"):
                        parts.append(delta["content"])
                    if "tool_calls" in delta:
                        self._tool_pieces(delta["tool_calls"] or ())
                if choice.get("finish_reason"):
                    self.finish = choice["finish_reason"]
        return False

    def _tool_pieces(self, pieces: Iterable[dict[str, Any]]) -> None:
        for piece in pieces:
            call = self._calls.setdefault(int(piece.get("index") or 0), {"id": "", "name": "", "arguments": ""})
            function = piece.get("function") or {}
            call["id"] = piece.get("id") or call["id"]
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""

    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
                     for i, c in sorted(self._calls.items()) if c["name"])


class StreamError(Exception):
    """The endpoint's event stream was malformed or reported an error mid-stream."""


def _event(data: bytes) -> dict[str, Any]:
    """One event's JSON object; raises StreamError when it is not one or reports an error."""
    try:
        chunk = orjson.loads(data)
    except ValueError:
        try:  # what orjson refuses and the standard library takes; bytes that are not UTF-8 read as U+FFFD, as
            chunk = json_codec.loads(data.decode("utf-8", "replace"))  # the SDK's text decoding did
        except ValueError as exc:
            raise StreamError("malformed event in the stream") from exc
    if type(chunk) is not dict:
        raise StreamError("malformed event in the stream")
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise StreamError(f"error in the stream: {str(message)[:300]}")
    return chunk


def _post_options() -> dict[str, Any]:
    """What `chat.completions.create` adds to a request: the bearer token (the SDK's other headers come anyway).
    A new dict per call: the SDK keeps it in the request's options."""
    return {"security": {"bearer_auth": True}}


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
            request = dataclasses.replace(request, model=model)
        return gateway.complete(request, on_delta)


def build_openai_gateway(base_url: str | None, api_key: str | None, timeout: float) -> OpenAICompatibleLLM:
    """An OpenAI-compatible gateway with a bounded timeout and two retries on transient errors."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=2)
    return OpenAICompatibleLLM(client)
