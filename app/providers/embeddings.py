"""Text embeddings: an OpenAI-compatible endpoint (batched, retried with backoff) and an offline hashing
embedder for the zero-config mode, behind one protocol.

Every embedder returns L2-normalised float32 rows, so a dot product is the cosine similarity. The offline
embedder needs no download and no state: word unigrams (minus stop words) and character 3-5-grams of each word,
sublinear term frequency, signed feature hashing into `dims` buckets. Its retrieval quality on the labelled set
in tests/app/rag is recorded in docs/benchmarks.md. Imports nothing from services, engine or api.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.errors import ProviderNotInitialize, ProviderRequestError

HASHING_PROVIDER = "trellis"
HASHING_MODEL = "hashing-512"

WORD = re.compile(r"\w+", re.UNICODE)
_STOP_TEXT = ("a an and are as at be been but by can do does for from has have how i if in into is it its my not of "
              "on or our so than that the their them then there these they this to was we were what when where "
              "which who why will with you your")
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class EmbeddingCall:
    """One request to an embeddings endpoint, as billed: the tokens the endpoint reported (0 when it reports
    none), the seconds it took including retries, and `success` or `error`."""

    provider: str
    model: str
    tokens: int
    latency: float
    outcome: str


OnCall = Callable[[EmbeddingCall], None]


class Embedder(Protocol):
    provider: str
    model: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text. Raises ProviderRequestError when the backend fails."""
        ...


def normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def _bucket(feature: str, dims: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dims, (1.0 if value >> 63 else -1.0)


class HashingEmbedder:
    """Stateless feature hashing; deterministic across processes and versions of Python."""

    provider = HASHING_PROVIDER

    def __init__(self, dims: int = 512, char_weight: float = 0.35) -> None:
        self.dims = dims
        self.model = f"hashing-{dims}"
        self._char_weight = char_weight
        self._cache: dict[str, tuple[int, float]] = {}

    def _features(self, text: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for word in WORD.findall(text.lower()):
            if word in STOP_WORDS:
                continue
            counts["w:" + word] += 1
            padded = f"<{word}>"
            for n in (3, 4, 5):
                for i in range(max(1, len(padded) - n + 1)):
                    counts["c:" + padded[i:i + n]] += 1
        return counts

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dims, dtype=np.float32)
        for feature, count in self._features(text).items():
            found = self._cache.get(feature)
            if found is None:
                found = _bucket(feature, self.dims)
                if len(self._cache) < 500_000:  # bounded memo: features repeat heavily across chunks
                    self._cache[feature] = found
            index, sign = found
            weight = 1.0 if feature[0] == "w" else self._char_weight
            vec[index] += sign * weight * (1.0 + math.log(count))
        return vec

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return normalize(np.stack([self._vector(t) for t in texts]))


class OpenAIEmbedder:
    """Calls `client.embeddings.create` in batches of `batch_size`. Transient failures (connection, timeout,
    429, 5xx) are retried with exponential backoff and jitter, `attempts` times per batch; the client should be
    built with `max_retries=0` so the retry policy lives here, and with a timeout. `on_call`, when given, hears
    of every batch request once it succeeded or finally failed (for metering); it must not raise."""

    provider = "openai"

    def __init__(self, client: Any, model: str, batch_size: int = 64, attempts: int = 4, base_delay: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, on_call: OnCall | None = None) -> None:
        self._client = client
        self.model = model
        self._batch = max(1, batch_size)
        self._attempts = max(1, attempts)
        self._base = base_delay
        self._sleep = sleep
        self._on_call = on_call

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            rows.extend(self._call([t or " " for t in texts[start:start + self._batch]]))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalize(np.asarray(rows, dtype=np.float32))

    def _call(self, batch: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            response = self._request(batch)
        except ProviderRequestError:
            self._report(0, started, "error")
            raise
        usage = getattr(response, "usage", None)
        self._report(int(getattr(usage, "prompt_tokens", None) or getattr(usage, "total_tokens", None) or 0),
                     started, "success")
        data = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in data]

    def _report(self, tokens: int, started: float, outcome: str) -> None:
        if self._on_call is not None:
            self._on_call(EmbeddingCall(self.provider, self.model, tokens, time.perf_counter() - started, outcome))

    def _request(self, batch: list[str]) -> Any:
        import openai

        transient = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
                if len(response.data) != len(batch):
                    raise ProviderRequestError(f"embeddings endpoint returned {len(response.data)} rows for "
                                               f"{len(batch)}")
                return response
            except transient as exc:  # APITimeoutError is an APIConnectionError
                if attempt == self._attempts:
                    raise ProviderRequestError(f"Embedding request failed after {attempt} attempts: "
                                               f"{type(exc).__name__}") from exc
                self._sleep(self._base * 2 ** (attempt - 1) * (0.5 + random.random()))
            except openai.APIStatusError as exc:
                raise ProviderRequestError(f"Embedding request rejected (HTTP {exc.status_code})") from exc
        raise AssertionError("unreachable")


class Embeddings:
    """Resolves the embedder of a dataset from its stored (provider, model); `default` names what new
    datasets get. `client_factory` builds an OpenAI client, or is None when no endpoint is configured."""

    def __init__(self, default_model: str, client_factory: Callable[[], Any] | None, batch_size: int = 64) -> None:
        self._client_factory = client_factory
        self._batch = batch_size
        self._hashing = HashingEmbedder()
        self._client: Any = None
        self.default = (("openai", default_model) if default_model else (HASHING_PROVIDER, self._hashing.model))

    def available(self) -> list[tuple[str, str]]:
        """(provider, model) pairs a dataset can be created with: the offline embedder always, and the
        configured endpoint's default model when there is one."""
        found = [(HASHING_PROVIDER, self._hashing.model)]
        if self.default[0] != HASHING_PROVIDER:
            found.insert(0, self.default)
        return found

    def for_model(self, provider: str | None, model: str | None, on_call: OnCall | None = None) -> Embedder:
        """The embedder of (provider, model). `on_call` meters its endpoint requests; the offline hashing
        embedder makes none, so it never calls it."""
        if not model or provider == HASHING_PROVIDER:
            dims = int(model.rsplit("-", 1)[1]) if model and model.startswith("hashing-") else 512
            return self._hashing if dims == self._hashing.dims else HashingEmbedder(dims)
        if self._client_factory is None:
            raise ProviderNotInitialize("No embeddings endpoint configured (EMBEDDING_BASE_URL / OPENAI_BASE_URL).")
        if self._client is None:
            self._client = self._client_factory()
        return OpenAIEmbedder(self._client, model, self._batch, on_call=on_call)


def build_openai_client(base_url: str | None, api_key: str | None, timeout: float = 60.0) -> Any:
    """The OpenAI SDK client for embeddings: explicit timeout, retries left to OpenAIEmbedder."""
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=0)
