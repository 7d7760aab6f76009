"""A tiny ToolRuntime over installed providers, standing in for the real registry (another branch) so each tool
kind is also exercised through the engine's tool port: credentials are resolved behind the port per provider and
never cross it, as the port's contract says."""

from __future__ import annotations

from typing import Any

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import ToolNotFound
from app.tools.provider import ToolProvider


class TinyRegistry:
    def __init__(self) -> None:
        self.providers: dict[tuple[str, str], ToolProvider] = {}
        self.credentials: dict[tuple[str, str], dict[str, str]] = {}

    def add(self, provider: ToolProvider, credentials: dict[str, str] | None = None) -> None:
        key = (provider.provider_type, provider.provider_id)
        self.providers[key] = provider
        self.credentials[key] = credentials or {}

    def _provider(self, ref: ToolRef) -> ToolProvider:
        provider = self.providers.get((ref.provider_type, ref.provider_id))
        if provider is None:
            raise ToolNotFound(f"{ref.label} is not installed")
        return provider

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        found = [s for s in self._provider(ref).tools() if s.ref.tool_name == ref.tool_name]
        if not found:
            raise ToolNotFound(f"{ref.label} is not installed")
        return found[0]

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        provider = self._provider(ref)
        return provider.invoke(ref.tool_name, arguments, self.credentials[(ref.provider_type, ref.provider_id)])
