"""The OpenAI-compatible gateway reads real event streams over HTTP: deltas in order, usage, finish reason,
and a clear ProviderRequestError for status errors, errors reported mid-stream and malformed events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from app.engine.ports import ChatMessage, LLMRequest
from app.errors import ProviderRequestError
from app.providers.llm import OpenAICompatibleLLM

STREAMS = {
    "ok": [": keep-alive comment", "event: message",
           'data: {"choices":[{"delta":{"role":"assistant"}}]}',
           'data: {"choices":[{"delta":{"content":"Hel"}}]}', 'data: {"choices":[{"delta":{"content":"lo"}}]}',
           'data: {"choices":[{"delta":{},"finish_reason":"length"}]}',
           'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}',
           "data: [DONE]", 'data: {"choices":[{"delta":{"content":"after done"}}]}'],
    "midstream-error": ['data: {"choices":[{"delta":{"content":"par"}}]}',
                        'data: {"error":{"message":"overloaded, try later"}}'],
    "malformed": ['data: {"choices":[{"delta":{"content":"x"}}]}', "data: {not json"],
    "no-usage": ['data: {"choices":[{"delta":{"content":"four score"}}]}', "data: [DONE]"],
    # A pause (a float: seconds) between tokens puts them in reads of their own.
    "paced": ['data: {"choices":[{"delta":{"content":"one"}}]}', 0.05,
              'data: {"choices":[{"delta":{"content":" two"}}]}', 0.05, "data: [DONE]"],
    # Several tokens in one write (a burst) arrive in one read.
    "burst": ['data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"delta":{"content":"b"}}]}\n\n'
              'data: {"choices":[{"delta":{"content":"c"}}]}', 0.05, "data: [DONE]"],
    # Events cut mid-line and mid-character between reads, CR LF line ends, a CR alone.
    "split": ['data: {"choices":[{"delta":{"content":"caf\u00e9 \u00e0 "}}]}\r\n\r\ndata: {"choices":[{"del', 0.05,
              'ta":{"content":"la cr\u00e8me"}}]}\r\rdata: [DONE]'],
    "not-utf8": [b'data: {"choices":[{"delta":{"content":"caf\xe9"}}]}', "data: [DONE]"],
    "late-error": ['data: {"choices":[{"delta":{"content":"kept"}}]}\n\ndata: {"error":"boom"}'],
}


SEEN: list[tuple[dict[str, str], dict[str, object]]] = []  # each request's headers and body


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        import json

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SEEN.append(({k.lower(): v for k, v in self.headers.items()}, body))
        model = body["model"]
        if model == "flaky" and len([b for _, b in SEEN if b["model"] == "flaky"]) == 1:
            self.send_response(503)  # the first call fails; the SDK's retry gets the stream
            self.send_header("retry-after-ms", "10")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if model == "flaky":
            model = "ok"
        if model == "missing":
            payload = b'{"error":{"message":"model not found","type":"invalid_request_error"}}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for line in STREAMS[model]:
            if isinstance(line, float):
                time.sleep(line)
                continue
            data = (line if isinstance(line, bytes) else line.encode()) + (b"" if model == "split" else b"\n\n")
            if model == "split" and b"cr\xc3\xa8me" in data:  # the next read starts inside a character
                cut = data.index(b"\xc3\xa8") + 1
                self.wfile.write(data[:cut])
                self.wfile.flush()
                time.sleep(0.05)
                data = data[cut:]
            self.wfile.write(data)
            self.wfile.flush()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def gateway() -> Iterator[OpenAICompatibleLLM]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", api_key="sk-test",
                           timeout=10, max_retries=0)
    yield OpenAICompatibleLLM(client)
    server.shutdown()


def ask(model: str) -> LLMRequest:
    return LLMRequest(provider="openai", model=model, messages=(ChatMessage(role="user", content="hi there"),))


def test_deltas_usage_and_finish_reason_come_from_the_stream(gateway):  # type: ignore[no-untyped-def]
    deltas: list[str] = []
    result = gateway.complete(ask("ok"), deltas.append)
    assert "".join(deltas) == "Hello"  # nothing after [DONE]
    assert result.text == "Hello"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 2)
    assert result.finish_reason == "length"


def test_without_usage_the_tokens_are_estimated(gateway):  # type: ignore[no-untyped-def]
    result = gateway.complete(ask("no-usage"), lambda _delta: None)
    assert result.text == "four score"
    assert result.usage.completion_tokens == len("four score") // 4


@pytest.mark.parametrize(("model", "message"), [
    ("missing", "404 error from model endpoint: model not found"),
    ("midstream-error", "error in the stream: overloaded, try later"),
    ("malformed", "malformed event in the stream"),
])
def test_failures_are_provider_errors_with_the_reason(gateway, model, message):  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderRequestError) as info:
        gateway.complete(ask(model), lambda _delta: None)
    assert message in str(info.value)


def test_deltas_stream_read_by_read_and_a_burst_is_one_delta(gateway):  # type: ignore[no-untyped-def]
    paced: list[str] = []
    assert gateway.complete(ask("paced"), paced.append).text == "one two"
    assert paced == ["one", " two"]  # each as soon as it is read
    burst: list[str] = []
    assert gateway.complete(ask("burst"), burst.append).text == "abc"
    assert burst == ["abc"]  # issue 18: one pass down the event path for what one read brought


def test_events_cut_between_reads_and_cr_line_ends_are_read_whole(gateway):  # type: ignore[no-untyped-def]
    deltas: list[str] = []
    result = gateway.complete(ask("split"), deltas.append)
    assert result.text == "café à la crème" and "".join(deltas) == result.text
    assert deltas[0] == "café à "  # forwarded before the rest of the stream arrived


def test_text_read_before_a_midstream_error_is_forwarded(gateway):  # type: ignore[no-untyped-def]
    deltas: list[str] = []
    with pytest.raises(ProviderRequestError, match="error in the stream: boom"):
        gateway.complete(ask("late-error"), deltas.append)
    assert deltas == ["kept"]


def test_requests_go_through_the_sdk_with_its_token_retries_and_body(gateway):  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=str(gateway._client.base_url), api_key="sk-retry", timeout=10, max_retries=1)
    request = LLMRequest(provider="openai", model="flaky", messages=(ChatMessage("user", "hi"),),
                         params={"temperature": 0.5}, response_format={"type": "json_object"})
    SEEN.clear()
    assert OpenAICompatibleLLM(client).complete(request, lambda _delta: None).text == "Hello"
    assert len(SEEN) == 2  # a 503, then the SDK's retry
    headers, body = SEEN[-1]
    assert headers["authorization"] == "Bearer sk-retry" and headers["content-type"] == "application/json"
    assert headers["x-stainless-retry-count"] == "1"
    assert body == {"model": "flaky", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                    "stream_options": {"include_usage": True}, "temperature": 0.5,
                    "response_format": {"type": "json_object"}}


def test_bytes_that_are_not_utf8_read_as_replacement_characters(gateway):  # type: ignore[no-untyped-def]
    assert gateway.complete(ask("not-utf8"), lambda _delta: None).text == "caf\ufffd"
