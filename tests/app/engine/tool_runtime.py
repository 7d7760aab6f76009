"""A small in-memory ToolRuntime for engine tests: tools are Python functions; every call is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import ToolInvokeError, ToolNotFound

WEATHER_SCHEMA = {"type": "object", "properties": {
    "city": {"type": "string", "description": "City name"},
    "units": {"type": "string", "description": "metric or imperial"}}, "required": ["city", "units"]}


def weather(arguments: dict[str, Any]) -> ToolResult:
    city = arguments.get("city", "?")
    return ToolResult(text=f"sunny in {city}, 21 {arguments.get('units', 'metric')}",
                      json=({"city": city, "sky": "sunny"},))


def broken(arguments: dict[str, Any]) -> ToolResult:
    raise ToolInvokeError("weather service answered 503")


class MemoryTools:
    """`tools` maps `provider/tool` to (description, schema, function)."""

    def __init__(self, tools: dict[str, tuple[str, dict[str, Any], Callable[[dict[str, Any]], ToolResult]]]
                 | None = None) -> None:
        self.tools = tools if tools is not None else {"weather/get_weather": ("Weather now", WEATHER_SCHEMA, weather)}
        self.calls: list[tuple[str, ToolRef, dict[str, Any]]] = []

    def _find(self, ref: ToolRef) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], ToolResult]]:
        found = self.tools.get(f"{ref.provider_id}/{ref.tool_name}")
        if found is None:
            raise ToolNotFound(f"Tool {ref.label} is not installed")
        return found

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        description, schema, _ = self._find(ref)
        return ToolSpec(ref=ref, description=description, parameters=schema)

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        _, _, function = self._find(ref)
        self.calls.append((workspace_id, ref, dict(arguments)))
        return function(arguments)


class MemoryCatalog(MemoryTools):
    """Also lists a provider's tools (the optional ToolCatalog face): `servers` maps an MCP server URL to the
    `provider/tool` keys it offers."""

    def __init__(self, servers: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.servers = servers

    def list_tools(self, workspace_id: str, provider_type: str, provider_id: str) -> list[ToolSpec]:
        if provider_type != "mcp" or provider_id not in self.servers:
            raise ToolNotFound("this MCP server is not installed")
        specs = []
        for key in self.servers[provider_id]:
            provider, tool = key.split("/", 1)
            specs.append(self.describe(workspace_id, ToolRef("mcp", provider, tool)))
        return specs
