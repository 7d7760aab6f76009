"""Invoking a built-in tool the way the registry does, for the built-in providers' tests."""

from __future__ import annotations

from typing import Any

from app.engine.ports import ToolResult
from app.tools.builtin import BUILTINS, BuiltinProvider
from app.tools.provider import ProviderContext


def call(provider_id: str, tool: str, context: ProviderContext | None = None,
         credentials: dict[str, str] | None = None, **arguments: Any) -> ToolResult:
    """Invoke a built-in tool the way the registry does."""
    provider = BuiltinProvider(BUILTINS[provider_id], context or ProviderContext())
    return provider.invoke(tool, arguments, credentials or {})


class MemoryFiles:
    def __init__(self) -> None:
        self.saved: dict[str, tuple[bytes, str]] = {}

    def read(self, workspace_id: str, file: Any) -> bytes:
        return self.saved[file["related_id"]][0]

    def save(self, workspace_id: str, filename: str, data: bytes, mime_type: str) -> dict[str, Any]:
        file_id = f"f{len(self.saved)}"
        self.saved[file_id] = (data, mime_type)
        return {"related_id": file_id, "filename": filename, "mime_type": mime_type, "size": len(data),
                "transfer_method": "tool_file", "tenant_id": workspace_id}
