"""The two marketplace plugins Dify apps use to reach MCP servers from ordinary tool slots, as built-ins:

- `mcp_sse` (`junjiem/mcp_sse/mcp_sse`): the servers are the workspace's credential `servers_config`, a JSON
  object of name -> `{url, transport, headers, timeout, sse_read_timeout}` (optionally wrapped in `mcpServers`;
  `transport` is `sse` unless it says `streamable_http`). Listing covers every server; a call goes to the first
  server, in the order given, that offers the tool.
- `mcp_config` (`arrenxxxxx/mcp_config_during_use/mcp_config`): no credentials; each call names its server
  (`server_url`, `headers` as JSON text, `timeout`, `sse_read_timeout`); the transport follows the URL (`/sse`).

Listing answers JSON text, a list of `{name, description, inputSchema}`; a call answers the MCP result folded as
`app.tools.mcp` folds it. Sessions, the egress guard and error translation are `app.tools.mcp`'s: every
connection leaves through the guard, and an operation is bounded by the asked timeout, never longer than the
deployment's tool timeout. Header values and credentials never appear in errors.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.engine.ports import ToolResult
from app.errors import ToolCredentialsMissing, ToolInvokeError
from app.tools import mcp
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

# The plugins' own defaults; the deployment's tool timeout caps both.
DEFAULT_TIMEOUT, DEFAULT_SSE_READ_TIMEOUT = 60.0, 300.0
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
Operation = Callable[[Any], Awaitable[Any]]


class BridgeServer(BaseModel):
    """One entry of `servers_config`. Unknown keys (a `command` of a stdio server...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    url: str
    transport: Literal["sse", "streamable_http"] = "sse"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0)
    sse_read_timeout: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return mcp.http_url(value, "url")

    @field_validator("transport", mode="before")
    @classmethod
    def _spelling(cls, value: Any) -> Any:
        # `streamable-http` is how the SDK's servers spell it; configs copied from them use that.
        return value.strip().lower().replace("-", "_") if isinstance(value, str) else value

    @field_validator("headers", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()} \
            if isinstance(value, dict) else value


def _json(value: Any, what: str) -> Any:
    """`value` parsed when it is JSON text (a dict or list passes as is). Raises ValueError naming `what` and where
    the text is broken, never quoting it."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON ({exc})") from exc


def _headers(value: Any, what: str) -> dict[str, str]:
    """Checked request headers: a client library would quote a bad value in its error, so they are refused here,
    by name only."""
    headers = _json(value, what) if value not in (None, "") else {}
    if not isinstance(headers, dict):
        raise ValueError(f"{what} must be a JSON object of header name -> value")
    checked: dict[str, str] = {}
    for name, raw in headers.items():
        text = raw if isinstance(raw, str) else json.dumps(raw)
        if not HEADER_NAME.match(str(name)) or BAD_HEADER_VALUE.search(text):
            raise ValueError(f"{what}: header {str(name)[:60]!r} has an invalid name or value")
        checked[str(name)] = text
    return checked


def _arguments(call: ToolCall) -> dict[str, Any]:
    value = call.arguments.get("arguments")
    if value in (None, ""):
        return {}
    try:
        parsed = _json(value, "arguments")
    except ValueError as exc:
        raise ToolInvokeError(f"{call.provider_id}: {exc}; pass the tool's arguments as a JSON object") from exc
    if not isinstance(parsed, dict):
        raise ToolInvokeError(f"{call.provider_id}: arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _tool_name(call: ToolCall) -> str:
    name = call.text("tool_name").strip()
    if not name:
        raise ToolInvokeError(f"{call.provider_id}: tool_name is required")
    return name


def _listing(tools: list[mcp.McpToolSchema]) -> ToolResult:
    listed = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    return ToolResult(text=json.dumps(listed, ensure_ascii=False))


def _call_if_offered(tool_name: str, arguments: dict[str, Any]) -> Operation:
    """The session operation: call the tool when the server offers it, else None."""
    async def operation(session: Any) -> Any:
        if tool_name not in {t.name for t in await mcp.list_tools(session)}:
            return None
        return await session.call_tool(tool_name, arguments)
    return operation


# `mcp_sse`: the servers of the workspace's credential.

def _configured(call: ToolCall) -> dict[str, BridgeServer]:
    """The servers of `servers_config`. Raises ToolCredentialsMissing saying what is wrong, never its content."""
    try:
        data = _json(call.credentials.get("servers_config") or "", "the credential servers_config")
        if isinstance(data, dict) and isinstance(data.get("mcpServers"), dict):
            data = data["mcpServers"]
        if not isinstance(data, dict) or not data:
            raise ValueError("the credential servers_config must be a JSON object of server name -> "
                             '{"url": ..., "headers": {...}, "timeout": ..., "sse_read_timeout": ...}')
        return {str(name): _server_entry(str(name), entry) for name, entry in data.items()}
    except ValueError as exc:
        raise ToolCredentialsMissing(f"{call.provider_id}: {exc}; set it with PUT /manage/v1/tool-providers/"
                                     f"builtin/{call.provider_id}/credentials") from exc


def _server_entry(name: str, entry: Any) -> BridgeServer:
    try:
        server = BridgeServer.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]  # its `input` may hold a header value: only the place and the reason are shown
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"server {name!r} of servers_config is invalid: {where or 'entry'}: {first['msg']}") \
            from exc
    _headers(server.headers, f"server {name!r}")
    return server


def _endpoint(name: str, server: BridgeServer, deadline: float) -> mcp.McpServer:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ToolInvokeError(f"mcp_sse: no time left to reach MCP server {name!r}")
    timeout = min(server.timeout or DEFAULT_TIMEOUT, left)
    return mcp.McpServer(server.url, server.transport, server.headers, timeout,
                         min(server.sse_read_timeout or DEFAULT_SSE_READ_TIMEOUT, timeout), label=name)


def sse_list_tools(call: ToolCall) -> ToolResult:
    servers = _configured(call)
    guard, deadline = mcp.egress_guard(call.context), time.monotonic() + call.context.timeout_seconds
    tools: list[mcp.McpToolSchema] = []
    for name, server in servers.items():
        tools += mcp.run_on(_endpoint(name, server, deadline), guard, mcp.list_tools)
    return _listing(tools)


def sse_call_tool(call: ToolCall) -> ToolResult:
    servers, tool_name, arguments = _configured(call), _tool_name(call), _arguments(call)
    guard, deadline = mcp.egress_guard(call.context), time.monotonic() + call.context.timeout_seconds
    failures: list[str] = []
    for name, server in servers.items():
        try:
            result = mcp.run_on(_endpoint(name, server, deadline), guard, _call_if_offered(tool_name, arguments))
        except ToolInvokeError as exc:  # an unreachable server does not hide the tool of the next one
            failures.append(exc.message)
            continue
        if result is not None:
            return mcp.checked(result, tool_name)
    unreachable = f"; {'; '.join(failures)}" if failures else ""
    raise ToolInvokeError(f"mcp_sse: no configured MCP server offers a tool named {tool_name!r} (servers: "
                          f"{', '.join(servers)}){unreachable}")


# `mcp_config`: the server comes with each call.

def _seconds(call: ToolCall, name: str, default: float) -> float:
    value = call.arguments.get(name)
    if value in (None, ""):
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ToolInvokeError(f"{call.provider_id}: {name} must be a positive number of seconds")
    return float(value)


def _asked(call: ToolCall) -> mcp.McpServer:
    """The server a call names. Raises ToolInvokeError for a bad URL, headers or timeouts."""
    url = call.text("server_url").strip()
    try:
        mcp.http_url(url, "server_url")
        headers = _headers(call.arguments.get("headers"), "headers")
    except ValueError as exc:
        raise ToolInvokeError(f"{call.provider_id}: {exc}") from exc
    timeout = min(_seconds(call, "timeout", DEFAULT_TIMEOUT), call.context.timeout_seconds)
    sse_read = min(_seconds(call, "sse_read_timeout", DEFAULT_SSE_READ_TIMEOUT), timeout)
    return mcp.McpServer(url, mcp.transport_for(url), headers, timeout, sse_read, label=mcp.server_label(url))


def config_list_tools(call: ToolCall) -> ToolResult:
    return _listing(mcp.run_on(_asked(call), mcp.egress_guard(call.context), mcp.list_tools))


def config_call_tool(call: ToolCall) -> ToolResult:
    server, tool_name, arguments = _asked(call), _tool_name(call), _arguments(call)
    result = mcp.run_on(server, mcp.egress_guard(call.context), _call_if_offered(tool_name, arguments))
    if result is None:
        raise ToolInvokeError(f"{call.provider_id}: MCP server {server.label!r} has no tool named {tool_name!r}")
    return mcp.checked(result, tool_name)


TOOL_NAME = Param("tool_name", "string", True, "Name of the MCP tool to run.")
SERVER_PARAMS = (
    Param("server_url", "string", True, "URL of the MCP server (an `/sse` endpoint, or a streamable HTTP one)."),
    Param("headers", "string", description='HTTP headers as a JSON object, e.g. {"Authorization": "Bearer ..."}.'),
    Param("timeout", "number", description="HTTP timeout in seconds.", default=DEFAULT_TIMEOUT),
    Param("sse_read_timeout", "number", description="How long to wait for the next SSE event, in seconds.",
          default=DEFAULT_SSE_READ_TIMEOUT))

MCP_SSE = BuiltinSpec(
    provider_id="mcp_sse", label="MCP tools via SSE", aliases=("junjiem/mcp_sse/mcp_sse",),
    credentials=("servers_config",),
    description="List and call the tools of the MCP servers configured in servers_config (SSE or streamable HTTP).",
    tools=(
        BuiltinTool("mcp_sse_list_tools", "List the tools of the configured MCP servers.", (), sse_list_tools),
        BuiltinTool("mcp_sse_call_tool", "Call a tool of the configured MCP servers.", (
            TOOL_NAME, Param("arguments", "string", True, "The tool's arguments as a JSON object in text.")),
            sse_call_tool),
    ))

MCP_CONFIG = BuiltinSpec(
    provider_id="mcp_config", label="MCP configured during use",
    aliases=("arrenxxxxx/mcp_config_during_use/mcp_config",),
    description="List and call the tools of an MCP server named in each call.",
    tools=(
        BuiltinTool("mcp_list_tools", "List the tools of an MCP server.", SERVER_PARAMS, config_list_tools),
        BuiltinTool("mcp_call_tool", "Call a tool of an MCP server.", (
            *SERVER_PARAMS, TOOL_NAME,
            Param("arguments", "string", description="The tool's arguments as a JSON object in text.")),
            config_call_tool),
    ))
