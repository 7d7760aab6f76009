"""Embeddings: the offline hashing embedder, and the OpenAI-compatible one against real local HTTP servers
(the bench stub for batching; a flaky server for retry with backoff)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from app.errors import ProviderNotInitialize, ProviderRequestError
from app.providers.embeddings import Embeddings, HashingEmbedder, OpenAIEmbedder, build_openai_client


def test_hashing_embedder_is_normalised_deterministic_and_semantic():
    first, second = HashingEmbedder(), HashingEmbedder()
    texts = ["Shipping delays are refunded", "shipping delay refund", "Our stores open at 9am"]
    a, b = first.embed(texts), second.embed(texts)
    assert a.shape == (3, 512) and a.dtype == np.float32
    assert np.allclose(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    # Morphological variants (delays/delay, refunded/refund) land close; an unrelated sentence does not.
    assert a[0] @ a[1] > 0.5 > a[0] @ a[2]
    assert first.embed([]).shape == (0, 512)


def test_openai_embedder_batches_against_the_stub_server(llm_server):
    client = build_openai_client(llm_server.base_url, "sk-test", timeout=5)
    embedder = OpenAIEmbedder(client, "text-embedding-3-small", batch_size=2)
    vectors = embedder.embed(["alpha beta", "beta gamma", "delta", "alpha beta"])
    calls = [r for r in llm_server.requests if r["path"].endswith("/embeddings")]
    assert [len(c["input"]) for c in calls] == [2, 2]
    assert vectors.shape == (4, 64) and np.allclose(vectors[0], vectors[3])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_each_batch_request_is_reported_with_the_tokens_the_endpoint_counted(llm_server):
    calls = []
    client = build_openai_client(llm_server.base_url, "sk-test", timeout=5)
    embedder = Embeddings("text-embedding-3-small", lambda: client, batch_size=2).for_model(
        "openai", "text-embedding-3-small", on_call=calls.append)
    embedder.embed(["alpha beta", "beta gamma delta", "epsilon"])
    # The stub counts one token per word: batches ["alpha beta", "beta gamma delta"] and ["epsilon"].
    assert [(c.model, c.tokens, c.outcome) for c in calls] == [("text-embedding-3-small", 5, "success"),
                                                                ("text-embedding-3-small", 1, "success")]
    assert all(c.provider == "openai" and c.latency > 0 for c in calls)
    hashing = Embeddings("", None).for_model("trellis", "hashing-512", on_call=calls.append)
    hashing.embed(["offline"])
    assert len(calls) == 2  # the offline embedder calls no endpoint: nothing to meter


class Flaky:
    """Answers 503 `failures` times, then a valid embeddings response."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures, self.status, self.calls = failures, status, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls += 1
                if outer.calls <= outer.failures:
                    payload, code = {"error": {"message": "busy"}}, outer.status
                else:
                    payload, code = {"object": "list", "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1},
                                     "data": [{"object": "embedding", "index": i, "embedding": [1.0, 0.0]}
                                              for i in range(len(body["input"]))]}, 200
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_transient_failures_are_retried_with_exponential_backoff():
    flaky = Flaky(failures=2)
    delays: list[float] = []
    try:
        embedder = OpenAIEmbedder(build_openai_client(flaky.base_url, "k", 5), "m", attempts=4, base_delay=1.0,
                                  sleep=delays.append)
        assert embedder.embed(["x"]).tolist() == [[1.0, 0.0]]
    finally:
        flaky.close()
    assert flaky.calls == 3 and len(delays) == 2
    assert 0.5 <= delays[0] <= 1.5 and 1.0 <= delays[1] <= 3.0  # base * 2^n with jitter in [0.5, 1.5)


def test_persistent_failures_and_client_errors_raise_provider_errors():
    down = Flaky(failures=99)
    rejected = Flaky(failures=99, status=400)
    try:
        with pytest.raises(ProviderRequestError, match="after 3 attempts"):
            OpenAIEmbedder(build_openai_client(down.base_url, "k", 5), "m", attempts=3,
                           sleep=lambda _: None).embed(["x"])
        reported = []
        with pytest.raises(ProviderRequestError, match="HTTP 400"):
            OpenAIEmbedder(build_openai_client(rejected.base_url, "k", 5), "m", sleep=lambda _: None,
                           on_call=reported.append).embed(["x"])
        assert rejected.calls == 1  # a 4xx is not retried
        assert [(c.tokens, c.outcome) for c in reported] == [(0, "error")]
    finally:
        down.close()
        rejected.close()


def test_resolver_picks_hashing_or_endpoint():
    offline = Embeddings("", None)
    assert offline.default == ("trellis", "hashing-512")
    assert isinstance(offline.for_model("trellis", "hashing-256"), HashingEmbedder)
    assert offline.for_model("trellis", "hashing-256").dims == 256
    with pytest.raises(ProviderNotInitialize):
        offline.for_model("openai", "text-embedding-3-small")
    online = Embeddings("text-embedding-3-small", lambda: object())
    assert online.default == ("openai", "text-embedding-3-small")
    assert isinstance(online.for_model("openai", "text-embedding-3-small"), OpenAIEmbedder)
