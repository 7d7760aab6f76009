"""`AppProfiles.meta`: one icon per tool provider the published graph uses (the icon the node carries, else the
default emoji). The rows are written directly: importing a tool node needs the tool registry."""

from __future__ import annotations

from app.db import transaction
from app.models import App, WorkflowVersion
from app.services.app_profile import DEFAULT_TOOL_ICON, AppProfiles
from tests.conftest import SAMPLES, import_app


def test_meta_maps_each_tool_provider_to_an_icon(client, container):
    app_id = import_app(client, (SAMPLES / "hello.yml").read_text())
    with transaction(container.sessions) as session:
        app = session.get(App, app_id)
        nodes = [{"id": "a", "data": {"type": "tool", "provider_id": "time", "tool_name": "current_time"}},
                 {"id": "b", "data": {"type": "tool", "provider_name": "jina", "provider_icon": "https://i/jina.svg"}},
                 {"id": "c", "data": {"type": "llm"}}]
        version = WorkflowVersion(app_id=app_id, number=2, dsl="app: {name: x}", workflow={"graph": {"nodes": nodes}})
        session.add(version)
        session.flush()
        app.published_version_id = version.id
        workspace_id = app.workspace_id
    meta = AppProfiles(container.sessions).meta(workspace_id, app_id)
    assert meta == {"tool_icons": {"time": DEFAULT_TOOL_ICON, "jina": "https://i/jina.svg"}}
    site = AppProfiles(container.sessions).site(workspace_id, app_id)
    assert site["title"] and site["icon_background"] is None and site["use_icon_as_answer_icon"] is False
