"""Knowledge tags, document metadata and the embedding model list of the Knowledge API (`ds-` keys), through
Flask's test client on embedded stores with the offline embedder."""

from __future__ import annotations

from app.db import transaction
from app.models import AdminToken, Workspace
from app.services import tokens
from tests.app.api.test_datasets import create_dataset, ds_headers

OTHER_ADMIN = "adm-labels-other-workspace"


def other_workspace_key(client, container) -> dict[str, str]:
    """A `ds-` key of a second workspace."""
    with transaction(container.sessions) as session:
        workspace = Workspace(name="second")
        session.add(workspace)
        session.flush()
        session.add(AdminToken(workspace_id=workspace.id, token_hash=tokens.digest(OTHER_ADMIN),
                               prefix=tokens.display_prefix(OTHER_ADMIN)))
    return ds_headers(client, {"Authorization": f"Bearer {OTHER_ADMIN}"})


def add_text(client, headers, dataset_id: str, name: str, text: str) -> str:
    response = client.post(f"/v1/datasets/{dataset_id}/document/create-by-text", headers=headers,
                           json={"name": name, "text": text, "indexing_technique": "high_quality",
                                 "process_rule": {"mode": "automatic"}})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["document"]["id"]


def test_tags_crud_binding_and_dataset_view(client):
    headers = ds_headers(client)
    first, second = create_dataset(client, headers, "kb-a"), create_dataset(client, headers, "kb-b")
    assert first["created_by"] and first["updated_by"]  # never null (the dataset SDK's models reject null)
    tag = client.post("/v1/datasets/tags", headers=headers, json={"name": "policies"}).get_json()
    assert tag["type"] == "knowledge" and tag["name"] == "policies" and tag["binding_count"] == "0"
    assert client.post("/v1/datasets/tags", headers=headers, json={"name": "policies"}).status_code == 400
    assert client.post("/v1/datasets/tags", headers=headers, json={"name": "x" * 51}).status_code == 400
    other = client.post("/v1/datasets/tags", headers=headers, json={"name": "faq"}).get_json()

    bind = {"tag_ids": [tag["id"], other["id"]], "target_id": first["id"]}
    assert client.post("/v1/datasets/tags/binding", headers=headers, json=bind).status_code == 204
    assert client.post("/v1/datasets/tags/binding", headers=headers, json=bind).status_code == 204  # repeatable
    client.post("/v1/datasets/tags/binding", headers=headers, json={"tag_ids": [tag["id"]],
                                                                    "target_id": second["id"]})
    counts = {t["name"]: t["binding_count"] for t in client.get("/v1/datasets/tags", headers=headers).get_json()}
    assert counts == {"policies": "2", "faq": "1"}
    bound = client.get(f"/v1/datasets/{first['id']}/tags", headers=headers).get_json()
    assert bound["total"] == 2 and {t["name"] for t in bound["data"]} == {"policies", "faq"}
    assert client.post(f"/v1/datasets/{first['id']}/tags", headers=headers, json={}).get_json() == bound
    detail = client.get(f"/v1/datasets/{first['id']}", headers=headers).get_json()
    assert {t["name"] for t in detail["tags"]} == {"policies", "faq"}

    renamed = client.patch("/v1/datasets/tags", headers=headers, json={"tag_id": tag["id"], "name": "rules"})
    assert renamed.get_json()["name"] == "rules" and renamed.get_json()["binding_count"] == "2"
    unbind = {"tag_id": other["id"], "target_id": first["id"]}
    assert client.post("/v1/datasets/tags/unbinding", headers=headers, json=unbind).status_code == 204
    assert [t["name"] for t in client.get(f"/v1/datasets/{first['id']}/tags",
                                          headers=headers).get_json()["data"]] == ["rules"]
    assert client.delete("/v1/datasets/tags", headers=headers, json={"tag_id": tag["id"]}).status_code == 204
    assert client.get(f"/v1/datasets/{second['id']}/tags", headers=headers).get_json() == {"data": [], "total": 0}
    missing = client.delete("/v1/datasets/tags", headers=headers, json={"tag_id": tag["id"]})
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


def test_tags_and_metadata_are_scoped_to_the_workspace(client, container):
    mine = ds_headers(client)
    dataset = create_dataset(client, mine, "mine")
    tag = client.post("/v1/datasets/tags", headers=mine, json={"name": "mine"}).get_json()
    field = client.post(f"/v1/datasets/{dataset['id']}/metadata", headers=mine,
                        json={"type": "string", "name": "owner"}).get_json()
    stranger = other_workspace_key(client, container)
    assert client.get("/v1/datasets/tags", headers=stranger).get_json() == []
    assert client.post("/v1/datasets/tags", headers=stranger, json={"name": "mine"}).status_code == 200
    for response in (
        client.post("/v1/datasets/tags/binding", headers=stranger, json={"tag_ids": [tag["id"]],
                                                                         "target_id": dataset["id"]}),
        client.patch("/v1/datasets/tags", headers=stranger, json={"tag_id": tag["id"], "name": "theirs"}),
        client.delete("/v1/datasets/tags", headers=stranger, json={"tag_id": tag["id"]}),
        client.get(f"/v1/datasets/{dataset['id']}/tags", headers=stranger),
        client.get(f"/v1/datasets/{dataset['id']}/metadata", headers=stranger),
        client.patch(f"/v1/datasets/{dataset['id']}/metadata/{field['id']}", headers=stranger, json={"name": "x"}),
        client.post(f"/v1/datasets/{dataset['id']}/metadata/built-in/enable", headers=stranger),
    ):
        assert response.status_code == 404, response.get_json()


def test_metadata_fields_values_and_built_ins(client):
    headers = ds_headers(client)
    dataset = create_dataset(client, headers, "meta", indexing_technique="high_quality")
    base = f"/v1/datasets/{dataset['id']}"
    doc_id = add_text(client, headers, dataset["id"], "handbook", "Vacation policy: 25 days per year.")
    author = client.post(f"{base}/metadata", headers=headers, json={"type": "string", "name": "author"}).get_json()
    year = client.post(f"{base}/metadata", headers=headers, json={"type": "number", "name": "year"}).get_json()
    assert author["type"] == "string" and author["name"] == "author" and author["id"]
    assert client.post(f"{base}/metadata", headers=headers,
                       json={"type": "blob", "name": "x"}).get_json()["code"] == "invalid_param"
    assert client.post(f"{base}/metadata", headers=headers,
                       json={"type": "string", "name": "document_name"}).status_code == 400

    ops = {"operation_data": [{"document_id": doc_id, "metadata_list": [
        {"id": author["id"], "value": "Ada", "name": "author"}, {"id": year["id"], "value": 2024, "name": "year"}]}]}
    assert client.post(f"{base}/documents/metadata", headers=headers, json=ops).get_json() == {"result": "success"}
    listing = client.get(f"{base}/metadata", headers=headers).get_json()
    assert listing["built_in_field_enabled"] is False
    assert {f["name"]: f["count"] for f in listing["doc_metadata"]} == {"author": 1, "year": 1}
    document = client.get(f"{base}/documents/{doc_id}", headers=headers).get_json()
    assert {(m["name"], m["value"]) for m in document["doc_metadata"]} == {("author", "Ada"), ("year", 2024)}
    assert document["created_by"]

    record = client.post(f"{base}/retrieve", headers=headers, json={"query": "vacation days"}).get_json()["records"][0]
    assert record["segment"]["document"]["doc_metadata"] == {"author": "Ada", "year": 2024}
    other_id = add_text(client, headers, dataset["id"], "old handbook", "Vacation policy: 20 days per year.")
    client.post(f"{base}/documents/metadata", headers=headers, json={"operation_data": [{
        "document_id": other_id, "metadata_list": [{"id": author["id"], "value": "Grace", "name": "author"}]}]})

    def retrieve_names(**conditions) -> list[str]:
        body = {"query": "vacation days per year", "retrieval_model": {
            "top_k": 5, "search_method": "keyword_search", "metadata_filtering_conditions": conditions}}
        found = client.post(f"{base}/retrieve", headers=headers, json=body).get_json()["records"]
        return sorted(r["segment"]["document"]["name"] for r in found)

    assert retrieve_names() == ["handbook", "old handbook"]
    assert retrieve_names(conditions=[{"name": "author", "comparison_operator": "is", "value": "Grace"}]) == [
        "old handbook"]
    assert retrieve_names(logical_operator="or", conditions=[
        {"name": "author", "comparison_operator": "is", "value": "Grace"},
        {"name": "year", "comparison_operator": "≥", "value": 2024}]) == ["handbook", "old handbook"]
    client.delete(f"/v1/datasets/{dataset['id']}/documents/{other_id}", headers=headers)

    renamed = client.patch(f"{base}/metadata/{author['id']}", headers=headers, json={"name": "writer"}).get_json()
    assert renamed == {"id": author["id"], "type": "string", "name": "writer"}
    assert client.post(f"{base}/metadata/built-in/enable", headers=headers).get_json() == {"result": "success"}
    assert client.get(f"{base}/metadata", headers=headers).get_json()["built_in_field_enabled"] is True
    detail = client.get(base, headers=headers).get_json()
    assert detail["built_in_field_enabled"] is True
    assert {f["name"] for f in detail["doc_metadata"]} == {"writer", "year"}
    names = [m["name"] for m in client.get(f"{base}/documents", headers=headers).get_json()["data"][0]["doc_metadata"]]
    assert names[:5] == ["document_name", "uploader", "upload_date", "last_update_date", "source"]
    assert set(names[5:]) == {"writer", "year"}
    built_in = client.get(f"{base}/metadata/built-in", headers=headers).get_json()["fields"]
    assert {"name": "upload_date", "type": "time"} in built_in
    assert client.post(f"{base}/metadata/built-in/sideways", headers=headers).status_code == 400

    assert client.delete(f"{base}/metadata/{year['id']}", headers=headers).status_code == 204
    document = client.get(f"{base}/documents/{doc_id}", headers=headers).get_json()
    assert [m["name"] for m in document["doc_metadata"] if m["id"] != "built-in"] == ["writer"]
    # Setting a document's metadata replaces its custom values.
    client.post(f"{base}/documents/metadata", headers=headers,
                json={"operation_data": [{"document_id": doc_id, "metadata_list": []}]})
    assert client.get(f"{base}/metadata", headers=headers).get_json()["doc_metadata"][0]["count"] == 0
    unknown = {"operation_data": [{"document_id": doc_id, "metadata_list": [{"id": "nope", "value": "x",
                                                                              "name": "x"}]}]}
    assert client.post(f"{base}/documents/metadata", headers=headers, json=unknown).status_code == 404


def test_embedding_model_list_and_single_segment(client):
    headers = ds_headers(client)
    models = client.get("/v1/workspaces/current/models/model-types/text-embedding", headers=headers)
    assert models.status_code == 200
    providers = models.get_json()["data"]
    assert [(p["provider"], [m["model"] for m in p["models"]]) for p in providers] == [("trellis", ["hashing-512"])]
    assert providers[0]["models"][0]["model_type"] == "text-embedding"
    assert client.get("/v1/workspaces/current/models/model-types/text-embedding").status_code == 401

    dataset = create_dataset(client, headers, "segs", indexing_technique="economy")
    doc_id = add_text(client, headers, dataset["id"], "notes", "One segment of text.")
    segments = client.get(f"/v1/datasets/{dataset['id']}/documents/{doc_id}/segments", headers=headers).get_json()
    segment_id = segments["data"][0]["id"]
    one = client.get(f"/v1/datasets/{dataset['id']}/documents/{doc_id}/segments/{segment_id}", headers=headers)
    assert one.status_code == 200 and one.get_json()["data"]["content"] == "One segment of text."
    assert client.get(f"/v1/datasets/{dataset['id']}/documents/{doc_id}/segments/nope",
                      headers=headers).status_code == 404
    stored = client.get(f"/v1/datasets/{dataset['id']}/documents/{doc_id}/upload-file", headers=headers).get_json()
    assert stored["name"] == "notes.txt" and stored["size"] == len("One segment of text.")
    assert stored["extension"] == "txt" and stored["created_by"]


def test_deleting_a_dataset_drops_its_bindings_fields_and_values(client, container):
    from sqlalchemy import func, select

    from app.models import DatasetMetadataField, DocumentMetadataValue, TagBinding

    headers = ds_headers(client)
    dataset = create_dataset(client, headers, "doomed", indexing_technique="economy")
    doc_id = add_text(client, headers, dataset["id"], "page", "Some text.")
    tag = client.post("/v1/datasets/tags", headers=headers, json={"name": "keep"}).get_json()
    client.post("/v1/datasets/tags/binding", headers=headers, json={"tag_ids": [tag["id"]], "target_id": dataset["id"]})
    field = client.post(f"/v1/datasets/{dataset['id']}/metadata", headers=headers,
                        json={"type": "string", "name": "topic"}).get_json()
    client.post(f"/v1/datasets/{dataset['id']}/documents/metadata", headers=headers, json={"operation_data": [
        {"document_id": doc_id, "metadata_list": [{"id": field["id"], "value": "x", "name": "topic"}]}]})
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=headers).status_code == 204
    with container.sessions() as session:
        for model in (TagBinding, DatasetMetadataField, DocumentMetadataValue):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model.__name__
    assert client.get("/v1/datasets/tags", headers=headers).get_json()[0]["binding_count"] == "0"
