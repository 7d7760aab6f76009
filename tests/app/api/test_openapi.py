"""The OpenAPI document (app/api/openapi/): served without a credential, valid for schemathesis, in step with
the routes Flask serves, and browsable as a self-contained HTML page."""

from __future__ import annotations

import re

import schemathesis

from app.api.openapi import METHODS

# Dify's alternative spellings of documented routes, served but not documented twice.
ALIASES = {
    ("POST", "/v1/datasets/{dataset_id}/document/create_by_text"),
    ("POST", "/v1/datasets/{dataset_id}/document/create_by_file"),
    ("POST", "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_text"),
    ("POST", "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_file"),
    ("POST", "/v1/datasets/{dataset_id}/hit-testing"),
}


def served(flask_app) -> set[tuple[str, str]]:
    routes = set()
    for rule in flask_app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if not path.startswith(("/v1/", "/manage/v1/")) or path in ("/v1/openapi.json", "/v1/docs"):
            continue
        routes |= {(m, path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return routes


def test_document_is_served_without_credentials_and_loads(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(doc)
    assert len(list(schema.get_all_operations())) == sum(
        1 for item in doc["paths"].values() for m in METHODS if m in item)


def test_every_route_is_documented_and_every_documented_route_exists(client, flask_app):
    doc = client.get("/v1/openapi.json").get_json()
    documented = {(m.upper(), path) for path, item in doc["paths"].items() for m in METHODS if m in item}
    assert documented - served(flask_app) == set()
    assert served(flask_app) - documented == ALIASES


def test_operations_name_credentials_and_difys_error(client):
    doc = client.get("/v1/openapi.json").get_json()
    schemes = doc["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"bearer"}
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            expected = {"/manage": "AdminToken", "/v1/datasets": "DatasetKey", "/v1/workspaces": "DatasetKey"}
            want = next((v for k, v in expected.items() if path.startswith(k)), "AppKey")
            assert op["security"] == ([] if path == "/v1/" else [{want: []}]), path
            for status in ("400", "404", "default"):
                body = op["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (path, status)
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "status"}
    run = doc["paths"]["/v1/workflows/run"]["post"]
    assert set(run["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    # Request bodies are the views' pydantic models.
    body = doc["components"]["schemas"]["WorkflowRunRequest"]
    assert set(body["required"]) == {"inputs", "user"}
    assert body["properties"]["response_mode"]["enum"] == ["blocking", "streaming"]


def test_all_references_resolve(client):
    doc = client.get("/v1/openapi.json").get_json()
    text = str(doc)
    names = set(re.findall(r"#/components/schemas/([\w.-]+)", text))
    assert names and names <= set(doc["components"]["schemas"])


def test_docs_page_lists_every_operation_and_loads_nothing_from_elsewhere(client):
    page = client.get("/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    doc = client.get("/v1/openapi.json").get_json()
    for item in doc["paths"].values():
        for method in METHODS:
            if method in item:
                assert f'id="{item[method]["operationId"]}"' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "/v1/workflows/run/{run_id}" in html
