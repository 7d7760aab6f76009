"""Every installed tool kind on the embedded path (SQLite, Huey immediate), installed through the management API:
an OpenAPI service and an MCP server the test starts, the dify-plugin fixture uploaded as a `.difypkg` through
`POST /manage/v1/tool-providers/plugins`, and another imported app as a workflow tool; the fixture DSL calls each
from a tool node and from an agent, and a second agent brings the MCP server by URL. The production-path twin is
tests/integration/test_tool_kinds.py."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from app import create_app
from app.engine.ports import ToolRef
from app.errors import ToolNotFound
from app.wiring import Container
from bench.llm_server import StubLLMServer
from tests.app.api.test_service_workflows import sse_events
from tests.app.tools import kinds_kit, plugin_kit
from tests.app.tools.web import Web, serve
from tests.conftest import ADMIN, ADMIN_HEADERS, app_key, build_test_container, fixture_dsl, import_app

ZIP = {**ADMIN_HEADERS, "Content-Type": "application/zip"}
pytestmark = pytest.mark.timeout(300)  # a fresh machine builds the plugin runtime once (pip)


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        yield server


def _api(container: Container) -> FlaskClient:
    flask_app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    flask_app.testing = True
    return flask_app.test_client()


@pytest.fixture
def build(make_settings: Callable[..., Any]) -> Iterator[Callable[..., tuple[Container, FlaskClient]]]:
    built: list[Container] = []

    def factory(**overrides: Any) -> tuple[Container, FlaskClient]:
        container = build_test_container(make_settings(egress_allow="127.0.0.1/32", secret_key="kinds-secret",
                                                       plugin_runtimes_dir=plugin_kit.runtimes_cache(),
                                                       **overrides))
        built.append(container)
        return container, _api(container)
    yield factory
    for container in built:
        container.close()


def test_plugin_upload_needs_plugins_enabled(build: Callable[..., tuple[Container, FlaskClient]],
                                             tmp_path: Path) -> None:
    _, api = build()
    package = plugin_kit.difypkg(tmp_path / "echo.difypkg").read_bytes()
    answer = api.post("/manage/v1/tool-providers/plugins", data=package, headers=ZIP)
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "invalid_param" and "PLUGIN_PYTHON" in answer.get_json()["message"]
    # A plugin is never installed from a JSON body either.
    refused = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS,
                       json={"provider_type": "plugin", "name": "x", "config": {"package_dir": "/"}})
    assert refused.status_code == 400 and "tool-providers/plugins" in refused.get_json()["message"]


def test_bad_plugin_uploads_are_refused_and_leave_nothing(build: Callable[..., tuple[Container, FlaskClient]],
                                                          tmp_path: Path) -> None:
    container, api = build(plugin_python=plugin_kit.base_python(), plugin_max_package_bytes=4096)
    url = "/manage/v1/tool-providers/plugins"
    assert api.post(url, data=b"PK", headers={**ADMIN_HEADERS, "Content-Type": "text/plain"}).status_code == 400
    assert "empty" in api.post(url, data=b"", headers=ZIP).get_json()["message"]
    not_zip = api.post(url, data=b"not a zip at all", headers=ZIP)
    assert not_zip.status_code == 400 and "not a zip" in not_zip.get_json()["message"]
    no_manifest = io.BytesIO()
    with zipfile.ZipFile(no_manifest, "w") as bundle:
        bundle.writestr("main.py", "print('hi')")
    answer = api.post(url, data=no_manifest.getvalue(), headers=ZIP)
    assert answer.status_code == 400 and "manifest" in answer.get_json()["message"]
    too_big = api.post(url, data=b"x" * 5000, headers=ZIP)
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "request_entity_too_large"
    assert api.post(url, data=b"x", headers={"Content-Type": "application/zip"}).status_code == 401
    packages = container.settings.trellis_home / "plugins" / "packages"
    assert not packages.exists() or not any(packages.iterdir())
    assert api.get("/manage/v1/tool-providers", headers=ADMIN_HEADERS).get_json()["installed"] == []
    audit = api.get("/manage/v1/audit", headers=ADMIN_HEADERS,
                    query_string={"endpoint": "/manage/v1/tool-providers/plugins"}).get_json()
    assert sorted(r["status"] for r in audit["data"]) == [400, 400, 400, 400, 413]


def _install_all(api: FlaskClient, web: Web, mcp_url: str, with_plugin: bool, tmp_path: Path) -> None:
    callee = import_app(api, fixture_dsl("shout_tool.yml"))


    schema_text = httpx.get(f"{web.url}/openapi.yaml", timeout=5).text
    for body in kinds_kit.install_bodies(schema_text, mcp_url, callee):
        answer = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json=body)
        assert answer.status_code == 201, answer.get_json()
    if with_plugin:
        package = plugin_kit.difypkg(tmp_path / "trellis_echo.difypkg").read_bytes()
        answer = api.post("/manage/v1/tool-providers/plugins?name=Echo", data=package, headers=ZIP)
        assert answer.status_code == 201, answer.get_json()
        [installed] = answer.get_json()["data"]
        assert installed["provider_id"] == kinds_kit.PLUGIN_ID and installed["name"] == "Echo"
        assert "python" in installed["config"]
        for change in ({"config": {**installed["config"], "python": "/bin/sh"}}, {"config": {}}):
            refused = api.put(f"/manage/v1/tool-providers/{installed['id']}", headers=ADMIN_HEADERS, json=change)
            assert refused.status_code == 400 and "from its package" in refused.get_json()["message"]
        again = api.post("/manage/v1/tool-providers/plugins", data=package, headers=ZIP)
        assert again.status_code == 409 and again.get_json()["code"] == "conflict"
        packages = Path(api.application.extensions["trellis"].settings.trellis_home) / "plugins" / "packages"
        assert [p.name for p in packages.iterdir()] == [Path(installed["config"]["package_dir"]).name]
        creds = api.put(f"/manage/v1/tool-providers/plugin/{kinds_kit.PLUGIN_ID}/credentials",
                        headers=ADMIN_HEADERS, json={"credentials": {"api_key": kinds_kit.PLUGIN_KEY}})
        assert creds.status_code == 200


def test_every_tool_kind_from_tool_nodes_and_agents(build: Callable[..., tuple[Container, FlaskClient]],
                                                    web: Web, llm_server: StubLLMServer, tmp_path: Path) -> None:
    base = plugin_kit.find_base_python()
    with_plugin = base is not None  # without a Python 3.12+ the plugin part is left out (plugin_kit says why)
    _, api = build(plugin_python=base or "")
    kinds_kit.serve_reverse(web)
    llm_server.script(kinds_kit.agent_script)
    with kinds_kit.mcp_server() as mcp_url:
        app = api.post("/manage/v1/apps", data=kinds_kit.tool_kinds_dsl(with_plugin),
                       headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
        assert app.status_code == 201
        missing = {m["provider_id"] for m in app.get_json()["missing_tools"]}
        assert missing == {"reverse-api", "calc-mcp", "shout-workflow"} | ({kinds_kit.PLUGIN_ID} if with_plugin
                                                                          else set())
        _install_all(api, web, mcp_url, with_plugin, tmp_path)
        headers = app_key(api, app.get_json()["id"])
        body = {"inputs": {"q": kinds_kit.QUESTION, "mcp_url": mcp_url}, "user": "u"}
        blocking = api.post("/v1/workflows/run", headers=headers, json={**body, "response_mode": "blocking"})
        data = blocking.get_json()["data"]
        assert data["status"] == "succeeded", data["error"]
        kinds_kit.check_outputs(data["outputs"], with_plugin)
        streamed = api.post("/v1/workflows/run", headers=headers, json={**body, "response_mode": "streaming"})
        events = sse_events(streamed.data)
    kinds_kit.check_stream(events, with_plugin)
    kinds_kit.check_outputs(events[-1]["data"]["outputs"], with_plugin)
    assert [r.headers["authorization"] for r in web.requests if r.path == "/reverse"] == [
        f"Bearer {kinds_kit.API_KEY}"] * 4  # node and agent, blocking and streaming
    if not with_plugin:
        pytest.skip("the plugin part needs a Python >= 3.12 (set TRELLIS_PLUGIN_PYTHON); the other kinds passed")


def test_an_update_cannot_point_a_workflow_tool_at_another_workspace(
        build: Callable[..., tuple[Container, FlaskClient]]) -> None:
    container, api = build()
    callee = import_app(api, fixture_dsl("shout_tool.yml"))
    [_, _, body] = kinds_kit.install_bodies("unused", "http://unused", callee)
    installed = api.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json=body).get_json()
    own = container.accounts.default_workspace_id()
    assert installed["config"]["workspace_id"] == own
    changed = api.put(f"/manage/v1/tool-providers/{installed['id']}", headers=ADMIN_HEADERS,
                      json={"config": {**body["config"], "workspace_id": "someone-elses", "description": "new"}})
    assert changed.status_code == 200
    assert changed.get_json()["config"] == {**body["config"], "workspace_id": own, "description": "new"}


def test_removing_a_plugin_stops_its_child_and_deletes_its_package(
        build: Callable[..., tuple[Container, FlaskClient]], tmp_path: Path) -> None:
    container, api = build(plugin_python=plugin_kit.base_python())
    package = plugin_kit.difypkg(tmp_path / "trellis_echo.difypkg").read_bytes()
    [installed] = api.post("/manage/v1/tool-providers/plugins", data=package, headers=ZIP).get_json()["data"]
    api.put(f"/manage/v1/tool-providers/plugin/{kinds_kit.PLUGIN_ID}/credentials", headers=ADMIN_HEADERS,
            json={"credentials": {"api_key": kinds_kit.PLUGIN_KEY}})
    workspace = container.accounts.default_workspace_id()
    echo = ToolRef("plugin", kinds_kit.PLUGIN_ID, "echo")
    assert container.tools.invoke(workspace, echo, {"text": "hi"}).text == "hi"
    [child] = container.plugin_host._processes.values()
    pid = child.pid
    assert pid is not None

    assert api.delete(f"/manage/v1/tool-providers/{installed['id']}", headers=ADMIN_HEADERS).status_code == 204
    assert not Path(installed["config"]["package_dir"]).exists()
    assert container.plugin_host._processes == {} and child.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie: the child is gone
    with pytest.raises(ToolNotFound):
        container.tools.invoke(workspace, echo, {"text": "hi"})

