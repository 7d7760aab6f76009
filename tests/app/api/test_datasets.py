"""The Knowledge API end to end (Flask test client, embedded stores, Huey immediate mode, embeddings from the
local OpenAI-protocol server): the support-bot story, key separation, documents, segments, uploads."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from tests.conftest import ADMIN_HEADERS, build_test_container

POLICY = ("Shipping delay policy: when a parcel arrives more than five business days late, we refund the "
          "shipping fee in full.\nReturns are accepted within 30 days of delivery.")


@pytest.fixture
def kb_client(make_settings):
    from app import create_app

    container = build_test_container(make_settings(embedding_model="text-embedding-3-small"))
    app = create_app(container.settings, container)
    app.testing = True
    yield app.test_client()
    container.close()


def ds_headers(client, admin: dict[str, str] | None = None) -> dict[str, str]:
    response = client.post("/manage/v1/datasets/api-keys", headers=admin or ADMIN_HEADERS)
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("ds-") and body["id"]
    return {"Authorization": f"Bearer {body['token']}"}


def create_dataset(client, headers, name="support", **extra) -> dict:
    response = client.post("/v1/datasets", headers=headers, json={"name": name, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def support_workflow(dataset_id: str) -> dict:
    return {"app": {"name": "support-bot", "mode": "workflow"}, "kind": "app", "version": "0.3.1",
            "workflow": {"graph": {"nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
                    {"variable": "question", "label": "Question", "type": "paragraph", "required": True}]}},
                {"id": "kr", "data": {"type": "knowledge-retrieval", "title": "Knowledge", "dataset_ids": [dataset_id],
                                      "query_variable_selector": ["start", "question"], "retrieval_mode": "multiple",
                                      "multiple_retrieval_config": {"top_k": 1}}},
                {"id": "llm", "data": {"type": "llm", "title": "Answer",
                                       "model": {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat"},
                                       "context": {"enabled": True, "variable_selector": ["kr", "result"]},
                                       "prompt_template": [
                                           {"role": "system", "text": "Answer from this context: {{#context#}}"},
                                           {"role": "user", "text": "{{#start.question#}}"}]}},
                {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
                    {"variable": "answer", "value_selector": ["llm", "text"]}]}}],
                "edges": [{"source": "start", "target": "kr"}, {"source": "kr", "target": "llm"},
                          {"source": "llm", "target": "end"}]}}}


def test_support_bot_story(kb_client, llm_server):
    client = kb_client
    headers = ds_headers(client)
    dataset = create_dataset(client, headers, indexing_technique="high_quality")
    assert dataset["embedding_model"] == "text-embedding-3-small"
    upload = client.post(f"/v1/datasets/{dataset['id']}/document/create-by-file", headers=headers,
                         data={"file": (io.BytesIO(POLICY.encode()), "policies.md"),
                               "data": json.dumps({"indexing_technique": "high_quality",
                                                   "process_rule": {"mode": "automatic"}})},
                         content_type="multipart/form-data")
    assert upload.status_code == 200, upload.get_json()
    created = upload.get_json()
    assert created["document"]["name"] == "policies.md" and created["batch"]
    status = client.get(f"/v1/datasets/{dataset['id']}/documents/{created['batch']}/indexing-status",
                        headers=headers).get_json()["data"][0]
    assert status["indexing_status"] == "completed" and status["completed_segments"] == status["total_segments"] >= 1
    assert isinstance(status["completed_at"], int)
    embedded = [r for r in llm_server.requests if r["path"].endswith("/embeddings")]
    assert embedded and embedded[0]["model"] == "text-embedding-3-small"

    retrieved = client.post(f"/v1/datasets/{dataset['id']}/retrieve", headers=headers, json={
        "query": "my parcel is late, do I get the shipping fee back?",
        "retrieval_model": {"search_method": "hybrid_search", "top_k": 1,
                            "weights": {"vector_setting": {"vector_weight": 0.5},
                                        "keyword_setting": {"keyword_weight": 0.5}}}})
    assert retrieved.status_code == 200
    body = retrieved.get_json()
    assert body["query"] == {"content": "my parcel is late, do I get the shipping fee back?"}
    record = body["records"][0]
    assert "five business days" in record["segment"]["content"] and 0 < record["score"] <= 1
    assert record["segment"]["document"]["name"] == "policies.md"

    app_id = client.post("/manage/v1/apps", data=yaml.safe_dump(support_workflow(dataset["id"])),
                         headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"}).get_json()["id"]
    app_token = client.post(f"/manage/v1/apps/{app_id}/api-keys", headers=ADMIN_HEADERS).get_json()["token"]
    llm_server.script(lambda req: "Late by 5+ business days? Shipping refunded." if "five business days"
                      in req["messages"][0]["content"] else "I do not know.")
    run = client.post("/v1/workflows/run", headers={"Authorization": f"Bearer {app_token}"}, json={
        "inputs": {"question": "What is the shipping delay policy?"}, "response_mode": "blocking", "user": "u1"})
    data = run.get_json()["data"]
    assert data["status"] == "succeeded", data
    assert data["outputs"] == {"answer": "Late by 5+ business days? Shipping refunded."}


def test_app_keys_and_dataset_keys_do_not_cross(kb_client, app_with_key):
    client = kb_client
    headers = ds_headers(client)
    assert client.get("/v1/datasets", headers=headers).status_code == 200
    app_headers = app_key_for_hello(client)
    assert client.get("/v1/datasets", headers=app_headers).status_code == 401
    assert client.post("/v1/workflows/run", headers=headers, json={
        "inputs": {"name": "x"}, "response_mode": "blocking", "user": "u"}).status_code == 401
    assert client.get("/v1/datasets").status_code == 401


def app_key_for_hello(client) -> dict[str, str]:
    from tests.conftest import SAMPLES, app_key, import_app

    return app_key(client, import_app(client, (SAMPLES / "hello.yml").read_text()))


def test_dataset_crud_and_duplicate_name(kb_client):
    client = kb_client
    headers = ds_headers(client)
    first = create_dataset(client, headers, "faq", indexing_technique="economy")
    duplicate = client.post("/v1/datasets", headers=headers, json={"name": "faq"})
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "dataset_name_duplicate"
    listing = client.get("/v1/datasets?page=1&limit=10", headers=headers).get_json()
    assert listing["total"] == 1 and listing["data"][0]["id"] == first["id"] and listing["has_more"] is False
    patched = client.patch(f"/v1/datasets/{first['id']}", headers=headers, json={"description": "answers"})
    assert patched.get_json()["description"] == "answers"
    assert client.delete(f"/v1/datasets/{first['id']}", headers=headers).status_code == 204
    assert client.get(f"/v1/datasets/{first['id']}", headers=headers).status_code == 404


def test_documents_segments_and_status(kb_client):
    client = kb_client
    headers = ds_headers(client)
    ds = create_dataset(client, headers)["id"]
    made = client.post(f"/v1/datasets/{ds}/document/create_by_text", headers=headers, json={
        "name": "hours", "text": "Stores open at 9am.###Stores close at 8pm.",
        "process_rule": {"mode": "custom", "rules": {"pre_processing_rules": [],
                                                     "segmentation": {"separator": "###", "max_tokens": 50,
                                                                      "chunk_overlap": 0}}}}).get_json()
    doc = made["document"]["id"]
    segments = client.get(f"/v1/datasets/{ds}/documents/{doc}/segments", headers=headers).get_json()
    assert [s["content"] for s in segments["data"]] == ["Stores open at 9am.", "Stores close at 8pm."]
    added = client.post(f"/v1/datasets/{ds}/documents/{doc}/segments", headers=headers, json={
        "segments": [{"content": "Sundays: 10am to 5pm.", "keywords": ["sunday"]}]}).get_json()["data"][0]
    assert added["position"] == 3 and added["keywords"] == ["sunday"]
    updated = client.post(f"/v1/datasets/{ds}/documents/{doc}/segments/{added['id']}", headers=headers,
                          json={"segment": {"content": "Sundays and holidays: 10am to 5pm."}}).get_json()["data"]
    assert updated["content"].startswith("Sundays and holidays")
    hit = client.post(f"/v1/datasets/{ds}/hit-testing", headers=headers, json={
        "query": "holidays", "retrieval_model": {"search_method": "full_text_search", "top_k": 1}}).get_json()
    assert hit["records"][0]["segment"]["id"] == added["id"]
    assert client.delete(f"/v1/datasets/{ds}/documents/{doc}/segments/{added['id']}",
                         headers=headers).status_code == 204
    detail = client.get(f"/v1/datasets/{ds}/documents/{doc}", headers=headers).get_json()
    assert detail["segment_count"] == 2 and detail["display_status"] == "available"
    assert client.patch(f"/v1/datasets/{ds}/documents/status/disable", headers=headers,
                        json={"document_ids": [doc]}).get_json() == {"result": "success"}
    listed = client.get(f"/v1/datasets/{ds}/documents", headers=headers).get_json()
    assert listed["data"][0]["display_status"] == "disabled"
    gone = client.post(f"/v1/datasets/{ds}/retrieve", headers=headers, json={"query": "stores open"}).get_json()
    assert gone["records"] == []
    renamed = client.post(f"/v1/datasets/{ds}/documents/{doc}/update-by-text", headers=headers,
                          json={"name": "hours-v2", "text": "Open around the clock."}).get_json()
    assert renamed["document"]["name"] == "hours-v2"
    segments = client.get(f"/v1/datasets/{ds}/documents/{doc}/segments", headers=headers).get_json()
    assert [s["content"] for s in segments["data"]] == ["Open around the clock."]
    assert client.delete(f"/v1/datasets/{ds}/documents/{doc}", headers=headers).status_code == 204
    assert client.get(f"/v1/datasets/{ds}/documents", headers=headers).get_json()["total"] == 0


def test_invalid_process_rule_and_unsupported_file(kb_client):
    client = kb_client
    headers = ds_headers(client)
    ds = create_dataset(client, headers)["id"]
    bad = client.post(f"/v1/datasets/{ds}/document/create-by-text", headers=headers, json={
        "name": "x", "text": "y", "process_rule": {"mode": "custom", "rules": {
            "segmentation": {"separator": "\n", "max_tokens": 10}}}})
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_param"
    exe = client.post(f"/v1/datasets/{ds}/document/create-by-file", headers=headers,
                      data={"file": (io.BytesIO(b"MZ"), "tool.exe")}, content_type="multipart/form-data")
    assert exe.status_code == 415 and exe.get_json()["code"] == "unsupported_file_type"
    none = client.post(f"/v1/datasets/{ds}/document/create-by-file", headers=headers, data={},
                       content_type="multipart/form-data")
    assert none.status_code == 400 and none.get_json()["code"] == "no_file_uploaded"


def test_files_upload_is_stored_with_difys_shape(make_settings):
    from app import create_app

    container = build_test_container(make_settings(upload_max_bytes=1000))
    client = create_app(container.settings, container).test_client()
    headers = app_key_for_hello(client)
    response = client.post("/v1/files/upload", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"hello"), "note.txt"), "user": "u1"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "name", "size", "extension", "mime_type", "created_by", "created_at"}
    assert body["size"] == 5 and body["extension"] == "txt" and body["created_by"] == "u1"
    stored = container.knowledge.files.get(container.accounts.default_workspace_id(), body["id"])
    assert container.knowledge.files.read(stored) == b"hello"
    big = client.post("/v1/files/upload", headers=headers, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"x" * 2000), "big.txt")})
    assert big.status_code == 413 and big.get_json()["code"] == "file_too_large"
    ds_only = ds_headers(client)
    assert client.post("/v1/files/upload", headers=ds_only, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"x"), "a.txt")}).status_code == 401
    container.close()
