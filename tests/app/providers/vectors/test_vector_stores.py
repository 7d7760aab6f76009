"""One contract, three backends: the embedded store (SQLite file + numpy), pgvector on a real PostgreSQL with
the extension (tests/pgvector_server.py), and the Pinecone adapter through the real `pinecone` SDK against a
local HTTP double of the data plane (no Pinecone account is reachable here, so the double is the edge)."""

from __future__ import annotations

import numpy as np
import pytest

from app.db import make_engine
from app.providers.vectors import VectorRecord
from app.providers.vectors.embedded import EmbeddedVectorStore
from app.providers.vectors.pgvector import PgVectorStore
from app.providers.vectors.pinecone import PineconeVectorStore, build_pinecone_index
from tests.app.providers.vectors.pinecone_double import PineconeDouble


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(params=["embedded", "pgvector", "pinecone"])
def store(request, tmp_path):
    if request.param == "embedded":
        s = EmbeddedVectorStore(tmp_path / "vectors.sqlite3")
        yield s
        s.close()
    elif request.param == "pgvector":
        url = request.getfixturevalue("pgvector_url").replace("postgresql://", "postgresql+psycopg://", 1)
        engine = make_engine(url)
        yield PgVectorStore(engine)
        engine.dispose()
    else:
        double = PineconeDouble()
        yield PineconeVectorStore(build_pinecone_index("pc-test-key", double.host))
        double.close()


def records(document: str, generation: int, *vectors: np.ndarray, prefix: str = "") -> list[VectorRecord]:
    return [VectorRecord(f"{prefix or document}-{generation}-{i}", document, generation, v)
            for i, v in enumerate(vectors)]


def test_query_ranks_by_cosine_within_a_namespace(store):
    store.upsert("ds1", records("d1", 1, unit(1, 0, 0), unit(0.9, 0.1, 0), unit(0, 1, 0)))
    store.upsert("ds2", records("d9", 1, unit(1, 0, 0)))
    hits = store.query("ds1", unit(1, 0, 0), 2)
    assert [h.id for h in hits] == ["d1-1-0", "d1-1-1"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4) and hits[1].score < hits[0].score
    assert store.query("empty", unit(1, 0, 0), 3) == []


def test_upsert_is_idempotent_and_filters_by_document(store):
    batch = records("d1", 1, unit(1, 0, 0)) + records("d2", 1, unit(0.8, 0.2, 0))
    store.upsert("ds", batch)
    store.upsert("ds", batch)
    assert len(store.query("ds", unit(1, 0, 0), 10)) == 2
    assert [h.id for h in store.query("ds", unit(1, 0, 0), 10, document_ids=["d2"])] == ["d2-1-0"]


def test_delete_document_keeps_only_the_current_generation(store):
    store.upsert("ds", records("d1", 1, unit(1, 0, 0), unit(0, 1, 0)) + records("d1", 2, unit(0, 0, 1))
                 + records("d2", 1, unit(1, 1, 0)))
    store.delete_document("ds", "d1", keep_generation=2)
    assert sorted(h.id for h in store.query("ds", unit(1, 1, 1), 10)) == ["d1-2-0", "d2-1-0"]
    store.delete_ids("ds", ["d2-1-0"])
    store.delete_document("ds", "d1")
    assert store.query("ds", unit(1, 1, 1), 10) == []


def test_drop_namespace_is_total_and_tolerates_missing(store):
    store.upsert("ds", records("d1", 1, unit(1, 0)))
    store.drop_namespace("ds")
    store.drop_namespace("never-existed")
    assert store.query("ds", unit(1, 0), 5) == []


def test_pinecone_requests_carry_the_key_namespace_and_metadata():
    double = PineconeDouble()
    try:
        store = PineconeVectorStore(build_pinecone_index("pc-secret", double.host))
        store.upsert("dataset-1", records("doc", 3, unit(1, 0)))
        path, body, key = double.requests[0]
        assert path == "/vectors/upsert" and key == "pc-secret" and body["namespace"] == "dataset-1"
        assert body["vectors"][0]["metadata"] == {"document_id": "doc", "generation": 3}
        store.delete_document("dataset-1", "doc", keep_generation=3)
        assert double.requests[-1][1]["filter"] == {"document_id": {"$eq": "doc"}, "generation": {"$ne": 3}}
    finally:
        double.close()


def test_embedded_store_sees_writes_of_another_process_handle(tmp_path):
    """API and worker processes share the file: a second handle's write invalidates the first's cache."""
    reader, writer = EmbeddedVectorStore(tmp_path / "v.sqlite3"), EmbeddedVectorStore(tmp_path / "v.sqlite3")
    writer.upsert("ds", records("d1", 1, unit(1, 0)))
    assert len(reader.query("ds", unit(1, 0), 5)) == 1
    writer.upsert("ds", records("d2", 1, unit(0, 1)))
    assert len(reader.query("ds", unit(1, 0), 5)) == 2
    reader.close()
    writer.close()
