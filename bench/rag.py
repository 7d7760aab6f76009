"""Knowledge-base benchmarks (called by the lead's `make bench`; not a test):
- `indexing_throughput`: chunks/s through the real pipeline (parse, split, embed, vectors, segments).
- `retrieval_latency`: p50/p95 of `VectorStore.query` at `n` vectors for a given store.
Run directly: `python -m bench.rag [--n 100000]` (embedded store and the offline embedder)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.providers.vectors import VectorRecord, VectorStore


def retrieval_latency(store: VectorStore, n: int = 100_000, dims: int = 512, queries: int = 200,
                      top_k: int = 4, batch: int = 5_000, seed: int = 7) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    for start in range(0, n, batch):
        block = rng.standard_normal((min(batch, n - start), dims)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        store.upsert("bench", [VectorRecord(f"v{start + i}", f"d{(start + i) // 50}", 1, v)
                               for i, v in enumerate(block)])
    store.query("bench", block[0], top_k)  # warm the cache / index
    timings = []
    for _ in range(queries):
        q = rng.standard_normal(dims).astype(np.float32)
        started = time.perf_counter()
        store.query("bench", q / np.linalg.norm(q), top_k)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"n": n, "p50_ms": statistics.median(timings), "p95_ms": timings[int(len(timings) * 0.95) - 1]}


def indexing_throughput(container: Any, documents: int = 50, lines: int = 40) -> dict[str, float]:
    """Index `documents` synthetic documents of `lines` segments each through the container's pipeline."""
    from app.rag.splitting import ProcessRule

    kb = container.knowledge
    workspace_id = container.accounts.default_workspace_id()
    dataset_id = kb.datasets.create(workspace_id, {"name": f"bench-{time.time_ns()}"})["id"]
    text = "\n".join(f"Paragraph {i}: parcels delayed past five business days get the shipping fee back; "
                     f"returns within thirty days; clause {i}." for i in range(lines))
    ids = [kb.documents.create(workspace_id, dataset_id, f"doc{d}", kb.documents.store_text(
        workspace_id, f"doc{d}", text), ProcessRule(), {})["document"]["id"] for d in range(documents)]
    started = time.perf_counter()
    for document_id in ids:
        kb.indexer.index(document_id, "bench")
    elapsed = time.perf_counter() - started
    return {"chunks": documents * lines, "seconds": elapsed, "chunks_per_s": documents * lines / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    from app.providers.vectors.embedded import EmbeddedVectorStore

    with tempfile.TemporaryDirectory() as home:
        print("embedded", retrieval_latency(EmbeddedVectorStore(Path(home) / "v.sqlite3"), args.n))


if __name__ == "__main__":
    main()
