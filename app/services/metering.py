"""Metering of model calls: a decorator around the LLM gateway that times each call (latency and time to first
token), prices it from the price table, counts it in Prometheus and writes one `llm_calls` row; the same for
embedding requests (`kind="embedding"`, through `embedding_hook`); and the pricing of a finished node's
`execution_metadata` (Dify's `total_tokens`, `total_price`, `currency`).

The wrapper is built per run, so it knows the app and run without any context lookup, and it sees calls of
every node type that uses the LLM port (llm, question classifier, parameter extractor...). Writing a row
never fails the call: a database error is logged and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.db import Prepared, direct, engine_of
from app.engine.ports import LLMGateway, LLMRequest, LLMResult
from app.engine.state import NodeRecord
from app.errors import RunStopped
from app.metrics import metrics
from app.models import LlmCall
from app.models.base import new_id, utcnow
from app.providers.embeddings import EmbeddingCall, OnCall
from app.services.pricing import PriceTable, provider_key, to_display

log = logging.getLogger(__name__)


class UsageRecorder:
    """Writes `llm_calls` rows (one autocommit INSERT each) and updates the LLM metrics."""

    def __init__(self, sessions: sessionmaker[Session], pricing: PriceTable) -> None:
        self._engine = engine_of(sessions)
        self.pricing = pricing

    def record(self, *, workspace_id: str | None, app_id: str | None, run_id: str | None, provider: str,
               model: str, prompt_tokens: int, completion_tokens: int, latency: float, ttft: float | None,
               outcome: str, kind: str = "chat") -> int:
        """Account one call; returns its cost in nanos. Never raises."""
        provider = provider_key(provider)
        nanos = self.pricing.cost_nanos(provider, model, prompt_tokens, completion_tokens)
        m = metrics()
        app = app_id or ""
        if kind == "embedding":
            m.embedding_calls.labels(app, model, outcome).inc()
            m.embedding_tokens.labels(app, model).inc(prompt_tokens)
            m.embedding_cost.labels(app, model, self.pricing.currency).inc(nanos / 1e9)
        else:
            m.llm_calls.labels(app, provider, model, outcome).inc()
            m.llm_latency.labels(app, model).observe(latency)
            if ttft is not None:
                m.llm_ttft.labels(app, model).observe(ttft)
            m.llm_tokens.labels(app, model, "prompt").inc(prompt_tokens)
            m.llm_tokens.labels(app, model, "completion").inc(completion_tokens)
            m.llm_cost.labels(app, model, self.pricing.currency).inc(nanos / 1e9)
        row = {"id": new_id(), "workspace_id": workspace_id, "app_id": app_id, "run_id": run_id, "kind": kind,
               "provider": provider, "model": model[:128], "prompt_tokens": prompt_tokens,
               "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens,
               "price_nanos": nanos, "currency": self.pricing.currency, "latency": latency, "ttft": ttft,
               "outcome": outcome, "created_at": utcnow()}
        try:
            # One prebuilt INSERT in autocommit on the DBAPI connection: a session's transaction around it
            # cost more CPU than the insert (issue 18).
            with direct(self._engine, single=True) as db:
                db.execute(_LLM_CALL_INSERT, row)
        except Exception:
            log.warning("could not record an LLM call's usage", exc_info=True)
        return nanos


_LLM_CALL_INSERT = Prepared(insert(LlmCall.__table__), columns=[column.key for column in LlmCall.__table__.c])


def embedding_hook(recorder: UsageRecorder | None, *, workspace_id: str, provider: str | None,
                   app_id: str | None = None, run_id: str | None = None) -> OnCall | None:
    """The `on_call` of a dataset's embedder: each endpoint request becomes an `llm_calls` row of kind
    `embedding` priced as prompt tokens under the dataset's provider. Datasets belong to a workspace, not an
    app, so indexing is billed to the workspace (no app); retrieval inside a run is billed to its app and run.
    None without a recorder (nothing is metered)."""
    if recorder is None:
        return None

    def on_call(call: EmbeddingCall) -> None:
        recorder.record(workspace_id=workspace_id, app_id=app_id, run_id=run_id, provider=provider or call.provider,
                        model=call.model, prompt_tokens=call.tokens, completion_tokens=0, latency=call.latency,
                        ttft=None, outcome=call.outcome, kind="embedding")

    return on_call


class MeteredLLM:
    """An LLMGateway that meters every call of one run through `recorder`."""

    def __init__(self, inner: LLMGateway, recorder: UsageRecorder, *, workspace_id: str | None, app_id: str | None,
                 run_id: str | None) -> None:
        self._inner = inner
        self._recorder = recorder
        self._scope = {"workspace_id": workspace_id, "app_id": app_id, "run_id": run_id}

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        started = time.perf_counter()
        first: list[float] = []

        def timed_delta(text: str) -> None:
            if not first:
                first.append(time.perf_counter() - started)
            on_delta(text)

        try:
            result = self._inner.complete(request, timed_delta)
        except RunStopped:
            self._account(request, 0, 0, started, first, "stopped")
            raise
        except Exception:
            self._account(request, 0, 0, started, first, "error")
            raise
        self._account(request, result.usage.prompt_tokens, result.usage.completion_tokens, started, first,
                      "success")
        return result

    def _account(self, request: LLMRequest, prompt: int, completion: int, started: float, first: list[float],
                 outcome: str) -> None:
        self._recorder.record(**self._scope, provider=request.provider, model=request.model, prompt_tokens=prompt,
                              completion_tokens=completion, latency=time.perf_counter() - started,
                              ttft=first[0] if first else None, outcome=outcome)


def price_node(record: NodeRecord, pricing: PriceTable) -> int:
    """Add Dify's `total_price`/`currency` to a finished node's metadata (in place) and return its cost in
    nanos. Nodes that report prompt/completion tokens and their model in `process_data` are priced; others
    cost 0."""
    meta: dict[str, Any] = record.metadata
    process = record.process_data or {}
    prompt, completion = int(meta.get("prompt_tokens") or 0), int(meta.get("completion_tokens") or 0)
    model = process.get("model_name")
    nanos = 0
    if (prompt or completion) and model:
        nanos = pricing.cost_nanos(str(process.get("model_provider") or ""), str(model), prompt, completion)
    if prompt or completion or record.total_tokens:
        meta.setdefault("total_tokens", record.total_tokens)
        meta["total_price"] = to_display(nanos)
        meta["currency"] = pricing.currency
    return nanos
