"""The production path of knowledge bases: Postgres (tsvector full text) + pgvector (HNSW), through the API.
Postgres with pgvector comes from tests/pgvector_server.py; never skipped."""

from __future__ import annotations

from sqlalchemy import text

from tests.app.api.test_datasets import POLICY, create_dataset, ds_headers
from tests.conftest import build_test_container


def test_support_story_on_postgres_and_pgvector(make_settings, pgvector_url):
    from app import create_app

    container = build_test_container(make_settings(database_url=pgvector_url, vector_store="pgvector"))
    client = create_app(container.settings, container).test_client()
    headers = ds_headers(client)
    ds = create_dataset(client, headers)["id"]
    for name, body in {"policy": POLICY, "hours": "Stores open at 9am and close at 8pm."}.items():
        made = client.post(f"/v1/datasets/{ds}/document/create-by-text", headers=headers,
                           json={"name": name, "text": body})
        assert made.status_code == 200, made.get_json()
    question = "my parcel arrived late, is the shipping fee refunded?"
    for method in ("semantic_search", "full_text_search", "keyword_search", "hybrid_search"):
        records = client.post(f"/v1/datasets/{ds}/retrieve", headers=headers, json={
            "query": question, "retrieval_model": {"search_method": method, "top_k": 1}}).get_json()["records"]
        assert "five business days" in records[0]["segment"]["content"], method
    with container.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM trellis_vectors_512 WHERE namespace = :ns"), {"ns": ds}) == 3
        indexes = conn.scalars(text("SELECT indexdef FROM pg_indexes WHERE tablename IN "
                                    "('trellis_vectors_512', 'document_segments')")).all()
    assert any("hnsw" in i and "vector_cosine_ops" in i for i in indexes)
    assert any("gin" in i and "to_tsvector" in i for i in indexes)
    assert client.delete(f"/v1/datasets/{ds}", headers=headers).status_code == 204
    with container.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM trellis_vectors_512")) == 0
    container.close()
