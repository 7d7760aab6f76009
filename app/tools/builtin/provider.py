"""How a built-in provider is declared and run: its tools' parameters (turned into JSON Schema for models and
coerced from the strings a workflow passes), the credentials it needs, and the one `ToolProvider` class that
serves every declaration.

A tool function receives a `ToolCall` (its coerced arguments, the workspace's credentials for the provider and
the provider context: egress-guarded HTTP, files, timeout) and returns a `ToolResult`. HTTP helpers here turn
transport failures and error statuses into `ToolInvokeError` without echoing credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import ToolCredentialsMissing, ToolInvokeError, ToolNotFound, TrellisError
from app.tools.provider import ProviderContext

JSON_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
              "object": "object", "array": "array", "select": "string", "file": "object", "secret": "string"}
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y"})


@dataclass(frozen=True)
class Param:
    """One tool parameter as Dify declares it. `form` is `llm` (a model fills it) or `form` (set in the node's
    `tool_configurations`); both arrive as arguments."""

    name: str
    type: str = "string"  # string | number | integer | boolean | object | array | select | file
    required: bool = False
    description: str = ""
    default: Any = None
    options: tuple[str, ...] = ()
    form: str = "llm"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": JSON_TYPES.get(self.type, "string")}
        if self.description:
            out["description"] = self.description
        if self.options:
            out["enum"] = list(self.options)
        if self.default is not None:
            out["default"] = self.default
        if self.form == "form":
            # Set in the node's configuration rather than chosen by a model; an agent may leave it out.
            out["x-dify-form"] = "form"
        return out

    def coerce(self, value: Any) -> Any:
        """The value in this parameter's type; workflows pass most values as text. Raises ValueError."""
        if value is None or value == "":
            return self.default if value is None or self.type != "string" else value
        if self.type in ("number", "integer"):
            if isinstance(value, bool):
                return int(value)
            number = float(value)
            return int(number) if self.type == "integer" or number.is_integer() else number
        if self.type == "boolean":
            return value if isinstance(value, bool) else str(value).strip().lower() in TRUE_WORDS
        if self.type in ("object", "array") and isinstance(value, str):
            return json.loads(value)
        if self.type in ("string", "select") and not isinstance(value, str):
            return value if isinstance(value, dict | list) else str(value)
        return value


@dataclass(frozen=True)
class ToolCall:
    arguments: dict[str, Any]
    credentials: Mapping[str, str]
    context: ProviderContext
    provider_id: str

    def text(self, name: str) -> str:
        value = self.arguments.get(name)
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def endpoint(self, default: str) -> str:
        """The provider's base URL: the deployment's override (TOOL_ENDPOINTS) or the public one."""
        return (self.context.endpoints.get(self.provider_id) or default).rstrip("/")

    def http(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request through the egress guard, bounded by the provider timeout; an error status or a
        transport failure becomes ToolInvokeError (the message names the host and status, never a header)."""
        client = self.context.http
        if client is None:
            raise ToolInvokeError(f"{self.provider_id}: no HTTP client is configured for tools")
        timeout = self.context.timeout_seconds
        try:
            reply = client.request(method, url, connect=min(10.0, timeout), read=timeout, write=timeout, **kwargs)
        except TrellisError as exc:
            raise ToolInvokeError(f"{self.provider_id}: {exc.message}") from exc
        if reply.status_code >= 400:
            snippet = reply.content[:300].decode("utf-8", errors="replace")
            host = url.split("://", 1)[-1].split("/", 1)[0]
            raise ToolInvokeError(f"{self.provider_id}: {host} answered {reply.status_code}: {snippet}")
        return reply

    def http_json(self, method: str, url: str, **kwargs: Any) -> Any:
        reply = self.http(method, url, **kwargs)
        try:
            return json.loads(reply.content)
        except ValueError as exc:
            raise ToolInvokeError(f"{self.provider_id}: the service did not answer JSON") from exc


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    description: str
    params: tuple[Param, ...]
    run: Callable[[ToolCall], ToolResult]

    def spec(self, provider_id: str, for_model: bool = True) -> ToolSpec:
        """The tool as a model sees it: only the parameters a model fills (`form: llm`); the `form` ones are
        configured in the node or agent. `for_model=False` lists every parameter (the management API)."""
        params = [p for p in self.params if p.form == "llm" or not for_model]
        return ToolSpec(ref=ToolRef("builtin", provider_id, self.name), description=self.description,
                        parameters={"type": "object", "properties": {p.name: p.schema() for p in params},
                                    "required": [p.name for p in params if p.required]})


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in provider: its id, the Dify plugin ids it stands in for (`langgenius/time/time`), the
    credentials it needs (`credentials`: required; `optional_credentials`: used when set)."""

    provider_id: str
    label: str
    tools: tuple[BuiltinTool, ...]
    aliases: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()
    optional_credentials: tuple[str, ...] = ()
    description: str = ""
    by_name: dict[str, BuiltinTool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({tool.name: tool for tool in self.tools})


class BuiltinProvider:
    """A `ToolProvider` over one declaration, bound to one workspace's context."""

    provider_type = "builtin"

    def __init__(self, spec: BuiltinSpec, context: ProviderContext) -> None:
        self.spec = spec
        self.provider_id = spec.provider_id
        self._context = context

    def tools(self) -> list[ToolSpec]:
        return [tool.spec(self.provider_id) for tool in self.spec.tools]

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        tool = self.spec.by_name.get(tool_name)
        if tool is None:
            raise ToolNotFound(f"built-in provider {self.provider_id!r} has no tool {tool_name!r}")
        missing = [name for name in self.spec.credentials if not credentials.get(name)]
        if missing:
            raise ToolCredentialsMissing(
                f"tool {self.provider_id}/{tool_name} needs credentials {', '.join(missing)}: set them with "
                f"PUT /manage/v1/tool-providers/builtin/{self.provider_id}/credentials")
        call = ToolCall(self._coerce(tool, arguments), credentials, self._context, self.provider_id)
        return tool.run(call)

    def _coerce(self, tool: BuiltinTool, arguments: dict[str, Any]) -> dict[str, Any]:
        values = dict(arguments)
        for param in tool.params:
            try:
                values[param.name] = param.coerce(arguments.get(param.name))
            except (TypeError, ValueError) as exc:
                raise ToolInvokeError(f"tool {self.provider_id}/{tool.name}: parameter {param.name!r} must be "
                                      f"{param.type}, got {str(arguments.get(param.name))[:80]!r}") from exc
            if param.required and values[param.name] in (None, ""):
                raise ToolInvokeError(f"tool {self.provider_id}/{tool.name}: parameter {param.name!r} is required")
        return values


def text_result(text: str, data: dict[str, Any] | list[Any] | None = None) -> ToolResult:
    """A result with text and, when given, one JSON message (a list is wrapped as `{"data": [...]}`)."""
    if data is None:
        return ToolResult(text=text)
    return ToolResult(text=text, json=(data if isinstance(data, dict) else {"data": data},))
