"""Tools through the management and Service APIs on embedded backends: credentials (set, never returned, never
logged, sealed at rest), OpenAPI providers installed and called from a workflow, imports that report missing
tools and unsupported nodes, and runs that fail naming them. Web services are a local server the test starts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from app.wiring import Container
from tests.app.tools.web import Web, serve
from tests.conftest import ADMIN, ADMIN_HEADERS, app_key, build_test_container

KEY = "tvly-very-secret-value-123"
API_KEY = "sk-openapi-secret-456"


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        yield server


@pytest.fixture
def tool_container(make_settings: Callable[..., Any], web: Web) -> Iterator[Container]:
    settings = make_settings(egress_allow="127.0.0.1/32", tool_endpoints={"tavily": web.url},
                             secret_key="test-secret-key")
    container = build_test_container(settings)
    yield container
    container.close()


@pytest.fixture
def api(tool_container: Container) -> FlaskClient:
    flask_app = create_app(tool_container.settings, tool_container)
    tool_container.accounts.ensure_admin_token(ADMIN)
    flask_app.testing = True
    return flask_app.test_client()


def workflow(*nodes: dict[str, Any], outputs: dict[str, list[str]]) -> str:
    ids = ["start", *(n["id"] for n in nodes), "end"]
    return yaml.safe_dump({"app": {"name": "tools", "mode": "workflow"}, "kind": "app", "version": "0.1.5",
                           "workflow": {"graph": {
                               "nodes": [{"id": "start", "data": {"type": "start", "title": "S", "variables": [
                                   {"variable": "q", "type": "text-input", "required": False}]}},
                                         *nodes,
                                         {"id": "end", "data": {"type": "end", "title": "E", "outputs": [
                                             {"variable": k, "value_selector": v} for k, v in outputs.items()]}}],
                               "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}}})


def tool_node(node_id: str, provider_type: str, provider_id: str, tool: str, **params: str) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": "tool", "title": node_id, "provider_type": provider_type,
                                    "provider_id": provider_id, "provider_name": provider_id, "tool_name": tool,
                                    "tool_parameters": {k: {"type": "mixed", "value": v} for k, v in params.items()},
                                    "tool_configurations": {}}}


def imported(api: FlaskClient, dsl: str) -> dict[str, Any]:
    response = api.post("/manage/v1/apps", data=dsl, headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def run_app(api: FlaskClient, app_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/workflows/run", headers=app_key(api, app_id),
                        json={"inputs": inputs, "response_mode": "blocking", "user": "u"})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])


def test_builtin_credentials_are_set_used_never_returned_never_logged(api, tool_container, web, caplog):
    caplog.set_level(logging.DEBUG)
    web.json_route("/search", {"answer": "forty-two", "results": []})
    listed = api.get("/manage/v1/tool-providers", headers=ADMIN_HEADERS).get_json()
    tavily = next(p for p in listed["builtin"] if p["provider_id"] == "tavily")
    assert tavily["credentials_required"] == ["api_key"] and tavily["credentials_set"] == []

    app = imported(api, workflow(tool_node("t", "builtin", "langgenius/tavily/tavily", "tavily_search",
                                           query="{{#start.q#}}"), outputs={"answer": ["t", "text"]}))
    assert app["missing_tools"] == [{"node_id": "t", "provider_type": "builtin",
                                     "provider_id": "langgenius/tavily/tavily",
                                     "provider_name": "langgenius/tavily/tavily", "tool_name": "tavily_search",
                                     "reason": "credentials_missing"}]
    failed = run_app(api, app["id"], {"q": "life"})
    assert failed["status"] == "failed" and "tavily/tavily_search needs credentials api_key" in failed["error"]

    put = api.put("/manage/v1/tool-providers/builtin/langgenius/tavily/tavily/credentials", headers=ADMIN_HEADERS,
                  json={"credentials": {"api_key": KEY}})
    assert put.status_code == 200 and put.get_json()["credentials_set"] == ["api_key"]
    data = run_app(api, app["id"], {"q": "life"})
    assert data["status"] == "succeeded" and data["outputs"]["answer"].startswith("Answer: forty-two")
    assert web.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    for path in ("/manage/v1/tool-providers", "/manage/v1/tools"):
        body = api.get(path, headers=ADMIN_HEADERS).get_data(as_text=True)
        assert KEY not in body and '"api_key"' in body
    with tool_container.engine.connect() as conn:
        sealed = conn.execute(text("SELECT credentials FROM tool_providers")).scalar_one()
    assert KEY not in sealed and tool_container.tools.store.credentials(
        tool_container.accounts.default_workspace_id(), "builtin", "tavily") == {"api_key": KEY}
    assert KEY not in caplog.text and KEY not in str([r.__dict__ for r in caplog.records])

    bad = api.put("/manage/v1/tool-providers/builtin/tavily/credentials", headers=ADMIN_HEADERS,
                  json={"credentials": {"api_kee": "x"}})
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_param"
    assert KEY not in bad.get_data(as_text=True)
    assert api.delete("/manage/v1/tool-providers/builtin/tavily/credentials", headers=ADMIN_HEADERS).status_code == 204
    assert run_app(api, app["id"], {"q": "life"})["status"] == "failed"


OPENAPI = """
openapi: 3.0.0
info: {title: Kolors, version: "1"}
servers: [{url: "https://ai.example.com"}]
paths:
  /images:
    post:
      operationId: generateImage
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [prompt], properties: {prompt: {type: string}}}
"""


def test_an_openapi_provider_installed_under_the_exported_id_runs_from_a_workflow(api, web):
    web.routes["/images"] = lambda r: (200, "application/json", b'{"url": "https://img/' + r.json()["prompt"]
                                       .encode() + b'.png"}')
    dsl = workflow(tool_node("gen", "api", "29303358-86a5-4a38-a3dc-5691788732d4", "generateImage",
                             prompt="{{#start.q#}}"), outputs={"text": ["gen", "text"], "json": ["gen", "json"]})
    app = imported(api, dsl)
    assert [m["reason"] for m in app["missing_tools"]] == ["not_installed"]
    not_yet = run_app(api, app["id"], {"q": "cat"})
    assert not_yet["status"] == "failed" and "29303358-86a5-4a38-a3dc-5691788732d4" in not_yet["error"]

    install = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json={
        "provider_type": "api", "provider_id": "29303358-86a5-4a38-a3dc-5691788732d4", "name": "giteeapiKolors",
        "config": {"schema": OPENAPI, "server_url": web.url, "auth": {"type": "api_key", "in": "header",
                                                                      "name": "X-Key"}},
        "credentials": {"api_key": API_KEY}})
    assert install.status_code == 201, install.get_json()
    installed = install.get_json()
    assert installed["tools"] == ["generateImage"] and installed["credentials_set"] == ["api_key"]
    assert API_KEY not in install.get_data(as_text=True)

    data = run_app(api, app["id"], {"q": "cat"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["json"] == [{"url": "https://img/cat.png"}]
    assert web.requests[-1].headers["x-key"] == API_KEY
    assert "missing_tools" not in imported(api, dsl)

    tools = api.get("/manage/v1/tools", headers=ADMIN_HEADERS).get_json()["data"]
    kolors = next(t for t in tools if t.get("name") == "giteeapiKolors")
    assert kolors["tools"][0]["parameters"]["required"] == ["prompt"]
    renamed = api.patch(f"/manage/v1/tool-providers/{installed['id']}", headers=ADMIN_HEADERS,
                        json={"name": "Kolors v2"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Kolors v2"
    assert api.delete(f"/manage/v1/tool-providers/{installed['id']}", headers=ADMIN_HEADERS).status_code == 204
    assert run_app(api, app["id"], {"q": "cat"})["status"] == "failed"


def test_bad_installs_are_refused(api):
    bad_schema = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json={
        "provider_type": "api", "name": "x", "config": {"schema": "openapi: 3.0.0\npaths: {}"}})
    assert bad_schema.status_code == 400 and "no paths" in bad_schema.get_json()["message"]
    unknown = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json={
        "provider_type": "sorcery", "name": "x"})
    assert unknown.status_code == 400 and unknown.get_json()["code"] == "tool_not_found"
    assert api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json=[1]).status_code == 400
    assert api.get("/manage/v1/tool-providers").status_code == 401


def test_native_tools_run_and_unsupported_nodes_import_with_warnings(api):
    dsl = workflow(tool_node("now", "builtin", "langgenius/time/time", "current_time", format="%Y", timezone="UTC"),
                   outputs={"year": ["now", "text"]})
    app = imported(api, dsl)
    assert "missing_tools" not in app and "warnings" not in app
    data = run_app(api, app["id"], {"q": ""})
    assert data["status"] == "succeeded" and data["outputs"]["year"].isdigit()

    odd = workflow({"id": "w", "data": {"type": "warp-drive", "title": "Warp"}}, outputs={"x": ["w", "out"]})
    warned = imported(api, odd)
    assert warned["warnings"] == ["node w (Warp) has unsupported type 'warp-drive': a run that reaches it fails"]
    failed = run_app(api, warned["id"], {"q": ""})
    assert failed["status"] == "failed" and "'warp-drive'" in failed["error"]


def test_publishing_a_new_version_reports_missing_tools_too(api):
    app = imported(api, workflow(tool_node("t", "builtin", "time", "current_time"), outputs={"t": ["t", "text"]}))
    dsl = workflow(tool_node("t", "mcp", "pdftranslate-mcp-server", "translate_pdf"), outputs={"t": ["t", "text"]})
    updated = api.put(f"/manage/v1/apps/{app['id']}", data=dsl,
                      headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert updated.status_code == 200
    assert [(m["provider_id"], m["reason"]) for m in updated.get_json()["missing_tools"]] == [
        ("pdftranslate-mcp-server", "not_installed")]


def test_the_tool_listing_shows_every_parameter_with_its_form(api):
    tools = api.get("/manage/v1/tools", headers=ADMIN_HEADERS).get_json()["data"]
    time = next(p for p in tools if p["provider_id"] == "time")
    current = next(t for t in time["tools"] if t["name"] == "current_time")
    assert current["parameters"]["properties"]["timezone"]["x-dify-form"] == "form"
    assert {"time", "json_process", "maths", "tavily", "jina", "echarts"} <= {p["provider_id"] for p in tools}


@pytest.mark.parametrize("body", [
    {"provider_type": "workflow", "name": "w", "config": {"unexpected": []}},
    {"provider_type": "mcp", "name": "m", "config": {"server_url": "ftp://nowhere"}},
    {"provider_type": "api", "name": "a", "config": {"schema": 42}},
])
def test_a_bad_provider_configuration_is_400_naming_it(api, body):
    response = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "invalid_param"
