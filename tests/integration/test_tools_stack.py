"""Tools on the production path: gunicorn API + Huey worker processes on Postgres + Redis. An OpenAPI provider
served by the test and a built-in with a workspace key (pointed at the test's server by TOOL_ENDPOINTS) are
called from a workflow; the keys reach the services and never the processes' logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bench.stack import Stack, running_stack
from tests.app.tools.web import Web, serve

pytestmark = pytest.mark.integration

ADMIN = "adm-tools-integration"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TAVILY_KEY = "tvly-integration-secret-1"
API_KEY = "sk-openapi-integration-2"
SCHEMA = """
openapi: 3.0.0
info: {title: Shout, version: "1"}
servers: [{url: "https://shout.example.com"}]
paths:
  /shout:
    post:
      operationId: shout
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {text: {type: string}}}
"""


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        yield server


@pytest.fixture
def stack(tmp_path: Path, web: Web, postgres_url: str, services) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "DATABASE_URL": postgres_url, "REDIS_URL": services.redis_url,
           "HUEY_NAME": f"trellis-test-{uuid.uuid4().hex[:8]}", "EGRESS_ALLOW": "127.0.0.1/32",
           "SECRET_KEY": "integration-secret-key", "TOOL_ENDPOINTS": f'{{"tavily": "{web.url}"}}'}
    with running_stack(tmp_path / "home", env) as running:
        yield running


def dsl() -> str:
    def tool(node_id: str, kind: str, provider: str, name: str, params: dict[str, str]) -> dict:
        return {"id": node_id, "data": {"type": "tool", "title": node_id, "provider_type": kind,
                                        "provider_id": provider, "provider_name": provider, "tool_name": name,
                                        "tool_parameters": {k: {"type": "mixed", "value": v}
                                                            for k, v in params.items()}}}

    nodes = [{"id": "start", "data": {"type": "start", "variables": [{"variable": "q", "type": "text-input"}]}},
             tool("search", "builtin", "tavily", "tavily_search", {"query": "{{#start.q#}}"}),
             tool("loud", "api", "shout-provider", "shout", {"text": "{{#search.text#}}"}),
             {"id": "end", "data": {"type": "end",
                                    "outputs": [{"variable": "out", "value_selector": ["loud", "json"]}]}}]
    ids = [n["id"] for n in nodes]
    return yaml.safe_dump({"app": {"name": "tools", "mode": "workflow"}, "kind": "app", "version": "0.1.5",
                           "workflow": {"graph": {"nodes": nodes, "edges": [
                               {"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}}})


def test_builtin_and_openapi_tools_on_postgres_and_redis(stack: Stack, web: Web, tmp_path: Path) -> None:
    web.json_route("/search", {"answer": "tools work", "results": []})
    web.routes["/shout"] = lambda r: (200, "application/json",
                                      b'{"shouted": "' + r.json()["text"].strip().upper().encode() + b'"}')
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        app = client.post("/manage/v1/apps", content=dsl(), headers={**HEADERS, "Content-Type": "application/yaml"})
        assert app.status_code == 201, app.text
        assert {m["provider_id"] for m in app.json()["missing_tools"]} == {"tavily", "shout-provider"}
        assert client.put("/manage/v1/tool-providers/builtin/tavily/credentials", headers=HEADERS,
                          json={"credentials": {"api_key": TAVILY_KEY}}).status_code == 200
        installed = client.post("/manage/v1/tool-providers", headers=HEADERS, json={
            "provider_type": "api", "provider_id": "shout-provider", "name": "Shout",
            "config": {"schema": SCHEMA, "server_url": web.url, "auth": {"type": "bearer"}},
            "credentials": {"api_key": API_KEY}})
        assert installed.status_code == 201, installed.text
        key = client.post(f"/manage/v1/apps/{app.json()['id']}/api-keys", headers=HEADERS).json()["token"]
        run = client.post("/v1/workflows/run", headers={"Authorization": f"Bearer {key}"},
                          json={"inputs": {"q": "do tools work?"}, "response_mode": "blocking", "user": "u"})
    data = run.json()["data"]
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["out"] == [{"shouted": "ANSWER: TOOLS WORK"}]
    by_path = {r.path: r for r in web.requests}
    assert by_path["/search"].headers["authorization"] == f"Bearer {TAVILY_KEY}"
    assert by_path["/shout"].headers["authorization"] == f"Bearer {API_KEY}"
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "home").glob("*.log"))
    assert TAVILY_KEY not in logs and API_KEY not in logs
    sealed = stack.query("SELECT credentials FROM tool_providers")
    assert sealed and all(TAVILY_KEY not in str(row) and API_KEY not in str(row) for row in sealed)
