"""Every installed tool kind on the production path: gunicorn API + a Huey worker process on Postgres + Redis.
Installed through the management API over HTTP: an OpenAPI service and an MCP server the test starts (reached by
the worker because EGRESS_ALLOW lets it reach 127.0.0.1), the dify-plugin fixture zipped into a `.difypkg` and
uploaded (PLUGIN_PYTHON; its runtime comes from the machine's cache through PLUGIN_RUNTIMES_DIR) and another
imported app as a workflow tool. The fixture DSL (tests/fixtures/dsl/tool_kinds.yml) calls each from a tool node
and from an agent, and a second agent brings the MCP server by URL; runs go through /v1/workflows/run, blocking
and streaming. The embedded twin is tests/app/api/test_tool_kinds.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.llm_server import StubLLMServer
from bench.stack import Stack, running_stack
from tests.app.tools import kinds_kit, plugin_kit
from tests.app.tools.web import Web, serve
from tests.conftest import fixture_dsl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ADMIN = "adm-tool-kinds"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        kinds_kit.serve_reverse(server)
        yield server


@pytest.fixture
def mcp_url() -> Iterator[str]:
    with kinds_kit.mcp_server() as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path, llm_server: StubLLMServer, postgres_url: str, services: Any) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "DATABASE_URL": postgres_url, "REDIS_URL": services.redis_url,
           "HUEY_NAME": f"trellis-test-{uuid.uuid4().hex[:8]}", "EGRESS_ALLOW": "127.0.0.1/32",
           "SECRET_KEY": "tool-kinds-secret-key", "OPENAI_BASE_URL": llm_server.base_url,
           "OPENAI_API_KEY": "sk-test", "PLUGIN_PYTHON": plugin_kit.find_base_python() or "",
           "PLUGIN_RUNTIMES_DIR": str(plugin_kit.runtimes_cache())}
    with running_stack(tmp_path / "home", env) as running:
        yield running


def _install(client: httpx.Client, web: Web, mcp_url: str, with_plugin: bool, tmp_path: Path) -> None:
    callee = client.post("/manage/v1/apps", content=fixture_dsl("shout_tool.yml"),
                         headers={**HEADERS, "Content-Type": "application/yaml"})
    assert callee.status_code == 201, callee.text
    schema = client.get(f"{web.url}/openapi.yaml").text  # the client fetches it; the server never fetches URLs
    for body in kinds_kit.install_bodies(schema, mcp_url, callee.json()["id"]):
        installed = client.post("/manage/v1/tool-providers", headers=HEADERS, json=body)
        assert installed.status_code == 201, installed.text
    if not with_plugin:
        return
    package = plugin_kit.difypkg(tmp_path / "trellis_echo.difypkg").read_bytes()
    uploaded = client.post("/manage/v1/tool-providers/plugins", content=package,
                           headers={**HEADERS, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 201, uploaded.text
    assert [p["provider_id"] for p in uploaded.json()["data"]] == [kinds_kit.PLUGIN_ID]
    creds = client.put(f"/manage/v1/tool-providers/plugin/{kinds_kit.PLUGIN_ID}/credentials", headers=HEADERS,
                       json={"credentials": {"api_key": kinds_kit.PLUGIN_KEY}})
    assert creds.status_code == 200, creds.text


def _stream(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with client.stream("POST", "/v1/workflows/run", headers=headers,
                       json={**body, "response_mode": "streaming"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_every_tool_kind_on_postgres_redis_and_real_processes(stack: Stack, web: Web, mcp_url: str,
                                                              llm_server: StubLLMServer, tmp_path: Path) -> None:
    with_plugin = bool(stack.env["PLUGIN_PYTHON"])
    llm_server.script(kinds_kit.agent_script)
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        app = client.post("/manage/v1/apps", content=kinds_kit.tool_kinds_dsl(with_plugin),
                          headers={**HEADERS, "Content-Type": "application/yaml"})
        assert app.status_code == 201, app.text
        _install(client, web, mcp_url, with_plugin, tmp_path)
        key = client.post(f"/manage/v1/apps/{app.json()['id']}/api-keys", headers=HEADERS).json()["token"]
        headers = {"Authorization": f"Bearer {key}"}
        body = {"inputs": {"q": kinds_kit.QUESTION, "mcp_url": mcp_url}, "user": "u"}
        blocking = client.post("/v1/workflows/run", headers=headers, json={**body, "response_mode": "blocking"})
        data = blocking.json()["data"]
        assert data["status"] == "succeeded", data["error"]
        kinds_kit.check_outputs(data["outputs"], with_plugin)
        events = _stream(client, headers, body)
        audit = client.get("/manage/v1/audit", headers=HEADERS,
                           params={"endpoint": "/manage/v1/tool-providers/plugins"}).json()
    kinds_kit.check_stream(events, with_plugin)
    kinds_kit.check_outputs(events[-1]["data"]["outputs"], with_plugin)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "home").glob("*.log"))
    assert kinds_kit.API_KEY not in logs and kinds_kit.PLUGIN_KEY not in logs
    sealed = stack.query("SELECT credentials FROM tool_providers")
    assert sealed and all(kinds_kit.API_KEY not in str(r) and kinds_kit.PLUGIN_KEY not in str(r) for r in sealed)
    if not with_plugin:
        pytest.skip("the plugin part needs a Python >= 3.12 (set TRELLIS_PLUGIN_PYTHON); the other kinds passed")
    assert [r["status"] for r in audit["data"]] == [201]
