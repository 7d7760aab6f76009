"""A local OpenAI-protocol server: real HTTP, streaming (SSE) and usage, with configurable latency and
tokens per second. Used by the tests and the benchmarks in place of a hosted model.

By default it answers `Echo: <last user message>`; `script` replaces that with any function of the request. A
responder returns the answer text, or a `Reply` to answer with tool calls (`tool_caller` does that whenever
tools are offered and the last message is not a tool result).
Endpoints: POST /v1/chat/completions (stream or not), POST /v1/embeddings, GET /v1/models.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """A scripted answer: text and/or tool calls, each `{"name": ..., "arguments": {...}}` (an `id` is made
    up when missing)."""

    text: str = ""
    tool_calls: tuple[dict[str, Any], ...] = ()


Responder = Callable[[dict[str, Any]], "str | Reply"]


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def echo(request: dict[str, Any]) -> str:
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return f"Echo: {_text(users[-1]['content']) if users else ''}"


def _sample_arguments(schema: dict[str, Any], query: str) -> dict[str, Any]:
    """Arguments that satisfy a tool's JSON schema: strings get the user's last message, numbers 1."""
    samples = {"string": query, "number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}
    properties = schema.get("properties") or {}
    return {name: samples.get(str((spec or {}).get("type", "string")), query) for name, spec in properties.items()}


def tool_caller(request: dict[str, Any]) -> str | Reply:
    """Calls the first offered tool (arguments from its schema) unless the last message is a tool result; then
    answers `Echo: <tool result>`. Without tools it echoes like `echo`."""
    messages = request.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return f"Echo: {_text(messages[-1].get('content'))}"
    tools = [t for t in request.get("tools") or [] if t.get("type") == "function"]
    if not tools:
        return echo(request)
    function = tools[0]["function"]
    users = [m for m in messages if m.get("role") == "user"]
    query = _text(users[-1]["content"]) if users else ""
    return Reply(tool_calls=({"name": function["name"],
                              "arguments": _sample_arguments(function.get("parameters") or {}, query)},))


def count_tokens(text: str) -> int:
    return len(text.split())


def embed(text: str, dims: int = 64) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words get close vectors."""
    vec = [0.0] * dims
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,!?;:").encode()).digest()
        vec[digest[0] % dims] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


@dataclass
class StubConfig:
    latency: float = 0.0  # seconds before the first token
    tokens_per_second: float = 0.0  # 0 = all at once
    responder: Responder = echo
    fail_status: int | None = None  # answer chat calls with this HTTP status ...
    fail_ratio: float = 1.0  # ... this share of them, at random
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class StubHandler(BaseHTTPRequestHandler):
    config: StubConfig
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("/stats"):
            # For the chaos harness in another process: every chat prompt seen, in order.
            with self.config.lock:
                prompts = [str((r.get("messages") or [{}])[-1].get("content", "")) for r in self.config.requests
                           if r["path"].endswith("/chat/completions")]
            self._json(200, {"prompts": prompts})
            return
        self._json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with self.config.lock:
            self.config.requests.append({"path": self.path, **request})
        if self.path.endswith("/embeddings"):
            inputs = request.get("input") or []
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(inputs)]
            tokens = sum(count_tokens(t) for t in inputs)
            self._json(200, {"object": "list", "data": data, "model": request.get("model", ""),
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
            return
        if self.config.fail_status and random.random() < self.config.fail_ratio:
            self._json(self.config.fail_status, {"error": {"message": "stub failure", "type": "server_error"}})
            return
        self._chat(request)

    def _chat(self, request: dict[str, Any]) -> None:
        answer = self.config.responder(request)
        reply = answer if isinstance(answer, Reply) else Reply(text=answer)
        text = reply.text
        calls = [{"id": call.get("id") or f"call_{i}", "type": "function",
                  "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments") or {})}}
                 for i, call in enumerate(reply.tool_calls)]
        prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in request.get("messages", []))
        completion_tokens = count_tokens(text) + sum(count_tokens(c["function"]["arguments"]) + 1 for c in calls)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        finish = "tool_calls" if calls else "stop"
        if self.config.latency:
            time.sleep(self.config.latency)
        model = request.get("model", "stub-model")
        if not request.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
            if calls:
                message["tool_calls"] = calls
            self._json(200, {"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                             "model": model, "usage": usage, "choices": [{
                                 "index": 0, "finish_reason": finish, "message": message}]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        delay = 1.0 / self.config.tokens_per_second if self.config.tokens_per_second else 0.0
        for i, word in enumerate(text.split(" ") if text or not calls else []):
            self._delta(model, {"content": word if i == 0 else " " + word})
            if delay:
                time.sleep(delay)
        for index, call in enumerate(calls):
            # As real endpoints do: the id and name first, then the argument text in pieces.
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            self._delta(model, {"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                                "function": {"name": call["function"]["name"], "arguments": ""}}]})
            for piece in (arguments[:half], arguments[half:]):
                self._delta(model, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0,
                         "model": model, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _delta(self, model: str, delta: dict[str, Any]) -> None:
        self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

    def _event(self, body: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
        self.wfile.flush()



class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when hundreds of runs reach their LLM node at once
    # (the 500-in-flight capacity benchmark); the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-stream (a killed worker, a stopped run) is normal here.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StubLLMServer:
    """Start with `with StubLLMServer() as server:`; `server.base_url` ends in `/v1`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self._server = QuietServer((host, port), type("Handler", (StubHandler,), {"config": self.config}))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.config.lock:
            return list(self.config.requests)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def script(self, responder: Responder) -> None:
        self.config.responder = responder

    def start(self) -> StubLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--tps", type=float, default=0.0, help="tokens per second (0 = all at once)")
    parser.add_argument("--words", type=int, default=0, help="answer with this many words instead of an echo")
    parser.add_argument("--fail-status", type=int, default=None, help="answer chat calls with this HTTP status")
    parser.add_argument("--fail-ratio", type=float, default=1.0, help="share of chat calls that fail")
    parser.add_argument("--tool-calls", action="store_true",
                        help="call the first offered tool before answering (see tool_caller)")
    args = parser.parse_args()
    config = StubConfig(latency=args.latency, tokens_per_second=args.tps, fail_status=args.fail_status,
                        fail_ratio=args.fail_ratio)
    if args.tool_calls:
        config.responder = tool_caller
    if args.words:
        config.responder = lambda request: " ".join(f"w{i}" for i in range(args.words))
    server = StubLLMServer(port=args.port, config=config)
    print(f"stub LLM server on {server.base_url}", flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
