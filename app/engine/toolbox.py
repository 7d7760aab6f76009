"""The tools an agent node offers its model: Dify tool entries bound to the tool port, shown to the model as
OpenAI function specs, and called with the model's arguments merged with the values the node fixes.

A Dify tool entry marks each parameter as filled by the model or fixed by the author: `{"auto": 1}` (model),
`{"auto": 0, "value": x}` (fixed), a `settings` value (fixed), or, in older exports and `agent-chat` apps, a
plain value (empty = model, anything else a default the model may override). Fixed parameters are hidden from
the model. Must not import anything outside `app.engine` and `app.errors`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from app.engine.ports import ToolRef, ToolResult, ToolRuntime, ToolSpec
from app.engine.variables import VariablePool
from app.errors import RunStopped, ToolNotFound, TrellisError

FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class ToolEntry(BaseModel):
    """One tool of an agent node's `tools` parameter (Dify 1.x agent node shape)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    enabled: bool = True
    provider_name: str = ""
    provider_type: str = Field(default="builtin", alias="type")
    tool_name: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> ToolRef:
        return ToolRef(self.provider_type or "builtin", self.provider_name, self.tool_name,
                       provider_name=self.provider_name)


@dataclass(frozen=True)
class BoundTool:
    name: str  # the function name the model sees (unique, OpenAI-safe)
    ref: ToolRef
    description: str
    parameters: dict[str, Any]  # JSON schema without the fixed parameters
    fixed: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def function(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


@dataclass(frozen=True)
class Observation:
    """What one tool call came back with: the text the model reads next, the tool's result (None on error)."""

    tool: str
    arguments: dict[str, Any]
    text: str
    result: ToolResult | None = None
    error: str | None = None


def _split_values(entry: ToolEntry, pool: VariablePool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fixed, defaults) of an entry; strings may hold `{{#node.var#}}` references, rendered now."""
    def value(raw: Any) -> Any:
        return pool.render(raw) if isinstance(raw, str) else raw

    fixed: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for name, raw in entry.parameters.items():
        if isinstance(raw, dict) and "auto" in raw:
            if not raw.get("auto") and raw.get("value") not in (None, ""):
                fixed[name] = value(raw.get("value"))
        elif isinstance(raw, dict) and "value" in raw:
            if raw["value"] not in (None, ""):
                fixed[name] = value(raw["value"])
        elif raw not in (None, "", {}):
            defaults[name] = value(raw)
    for name, raw in entry.settings.items():
        setting = raw.get("value") if isinstance(raw, dict) else raw
        if setting not in (None, ""):
            fixed[name] = value(setting)
    return fixed, defaults


def _model_schema(schema: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    properties = {k: v for k, v in (schema.get("properties") or {}).items() if k not in hidden}
    required = [k for k in schema.get("required") or [] if k not in hidden and k in properties]
    shown: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        shown["required"] = required
    return shown


class Toolbox:
    def __init__(self, tools: list[BoundTool], runtime: ToolRuntime | None, workspace_id: str) -> None:
        self.tools = {t.name: t for t in tools}
        self._runtime = runtime
        self._workspace_id = workspace_id

    @classmethod
    def build(cls, entries: list[ToolEntry], runtime: ToolRuntime | None, workspace_id: str,
              pool: VariablePool, servers: list[str] | None = None) -> Toolbox:
        """Describe every enabled tool through the port, plus every tool of the MCP `servers` (URLs). Raises
        ToolNotFound naming the tools when no tool runtime is configured, or when a provider, tool or server
        is not installed."""
        enabled = [e for e in entries if e.enabled and e.tool_name]
        if (enabled or servers) and runtime is None:
            names = ", ".join([e.ref.label for e in enabled] + [f"mcp:{server_label(s)}" for s in servers or []])
            raise ToolNotFound(f"No tool runtime is configured, so the agent cannot use its tools: {names}")
        bound: list[BoundTool] = []
        for entry in enabled:
            assert runtime is not None
            spec = runtime.describe(workspace_id, entry.ref)
            fixed, defaults = _split_values(entry, pool)
            description = str(entry.extra.get("description") or spec.description or entry.tool_name)
            bound.append(BoundTool(name=_unique(entry.tool_name, bound), ref=entry.ref, description=description,
                                   fixed=fixed, defaults=defaults,
                                   parameters=_model_schema(spec.parameters, set(fixed))))
        for server in servers or []:
            assert runtime is not None
            for spec in _server_tools(runtime, workspace_id, server):
                bound.append(BoundTool(name=_unique(spec.ref.tool_name, bound), ref=spec.ref,
                                       description=spec.description or spec.ref.tool_name,
                                       parameters=_model_schema(spec.parameters, set())))
        return cls(bound, runtime, workspace_id)

    def functions(self) -> tuple[dict[str, Any], ...]:
        return tuple(t.function() for t in self.tools.values())

    def invoke(self, name: str, arguments: str | dict[str, Any] | None) -> Observation:
        """Call tool `name` once. Never raises for the tool's own failures: a missing tool, bad arguments or a
        failing call become an observation the model reads (as Dify's strategies do)."""
        tool = self.tools.get(name)
        if tool is None:
            return Observation(name, {}, f"there is no tool named {name}", error="unknown tool")
        args = _parse_arguments(arguments, tool)
        if isinstance(args, str):
            return Observation(name, {}, args, error=args)
        merged = {**tool.defaults, **args, **tool.fixed}
        assert self._runtime is not None
        try:
            result = self._runtime.invoke(self._workspace_id, tool.ref, merged)
        except RunStopped:
            raise
        except TrellisError as exc:
            message = f"tool invoke error: {exc.message}"
            return Observation(name, merged, message, error=exc.message)
        return Observation(name, merged, observation_text(result), result=result)


def _unique(tool_name: str, bound: list[BoundTool]) -> str:
    """An OpenAI-safe function name not used yet (two providers may both offer `search`)."""
    name = FUNCTION_NAME.sub("_", tool_name)[:64] or "tool"
    taken, suffix = {t.name for t in bound}, 2
    while name in taken:
        name, suffix = f"{FUNCTION_NAME.sub('_', tool_name)[:60]}_{suffix}", suffix + 1
    return name


def server_label(url: str) -> str:
    """An MCP server named without its path or query, which often carry an access key."""
    parsed = urlsplit(url)
    return parsed.netloc or "(invalid URL)"


def _server_tools(runtime: ToolRuntime, workspace_id: str, url: str) -> list[ToolSpec]:
    list_tools = getattr(runtime, "list_tools", None)
    if list_tools is None:
        raise ToolNotFound(f"The agent uses the MCP server {server_label(url)}, but this deployment's tool runtime "
                           "cannot list an MCP server's tools")
    specs: list[ToolSpec] = list_tools(workspace_id, "mcp", url)
    return specs


def _parse_arguments(arguments: str | dict[str, Any] | None, tool: BoundTool) -> dict[str, Any] | str:
    """The model's arguments as a dict, or an error text. A bare string is accepted for a tool with exactly
    one parameter the model fills (ReAct models often write `Action Input: Paris`)."""
    if isinstance(arguments, dict):
        return arguments
    text = (arguments or "").strip()
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    if isinstance(parsed, dict):
        return parsed
    free = list((tool.parameters.get("properties") or {}).keys())
    if len(free) == 1:
        return {free[0]: parsed}
    return f"tool arguments must be a JSON object, got: {text[:200]}"


def observation_text(result: ToolResult) -> str:
    """What the model reads back: the tool's text, its JSON messages and the names of files it made."""
    parts = [result.text] if result.text else []
    parts += [json.dumps(item, ensure_ascii=False) for item in result.json]
    for file in result.files:
        label = file.get("filename") or file.get("url") or file.get("id") or "file"
        parts.append(f"file created and sent to the user: {label}")
    return "\n".join(parts) if parts else "the tool returned no output"
