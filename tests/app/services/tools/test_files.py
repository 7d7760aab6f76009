"""The files port of tools on the real upload store: tool files saved as uploads in Dify's file shape, and read
back by id within the workspace only."""

from __future__ import annotations

import pytest

from app.errors import ToolInvokeError
from app.services.tools.files import ToolFileStore


@pytest.fixture
def files(container) -> ToolFileStore:
    return ToolFileStore(lambda: container.knowledge.files)


def test_saved_tool_files_read_back_in_their_workspace_only(files, container):
    workspace = container.accounts.default_workspace_id()
    saved = files.save(workspace, "report.html", b"<h1>hi</h1>", "text/html")
    assert saved["transfer_method"] == "tool_file" and saved["type"] == "document"
    assert saved["filename"] == "report.html" and saved["extension"] == ".html" and saved["size"] == 11
    assert files.read(workspace, saved) == b"<h1>hi</h1>"
    with pytest.raises(ToolInvokeError, match="cannot be read"):
        files.read("another-workspace", saved)
    with pytest.raises(ToolInvokeError, match="neither an uploaded file nor a URL"):
        files.read(workspace, {"filename": "x"})


def test_a_file_type_the_store_refuses_is_a_tool_error(files, container):
    with pytest.raises(ToolInvokeError, match="cannot be stored"):
        files.save(container.accounts.default_workspace_id(), "tool.exe", b"MZ", "application/octet-stream")
