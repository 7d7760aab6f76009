"""MCP servers as a tool provider kind (`provider_type: mcp`), on the official `mcp` SDK.

One installed provider is one remote MCP server, reached over streamable HTTP or SSE. Its tools' `inputSchema`
become `ToolSpec.parameters`; a call's content folds into a `ToolResult` (text parts joined, structured content
and JSON text as `json`, images, audio and blob resources as `files` with a data URL). Every connection leaves
through the egress guard (`app.providers.egress_async`), and a whole call is bounded by the provider timeout.

The SDK is async; the tool node and the agent call from synchronous worker threads. Each operation runs on a
private event loop that lives exactly as long as the call and closes its connections and worker
threads before returning, so nothing outlives a call. Credentials become request headers only; they never appear
in results or errors. `McpServer`, `run_on`, `list_tools` and `checked` are the session layer the installed kind
and the built-in MCP bridges (`app.tools.builtin.mcp_bridge`) share. Imports nothing from `app.engine` beyond the
port types.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import ToolInvokeError, ToolNotFound, TrellisError
from app.providers.egress import EgressPolicy, GuardedBackend
from app.providers.egress_async import guarded_async_client
from app.tools.provider import ProviderContext

T = TypeVar("T")
MAX_FILE_BYTES = 5 * 1024 * 1024
ERROR_TEXT_CHARS = 500
LISTING_TTL_SECONDS = 60.0


class McpToolSchema(BaseModel):
    """A tool as discovered at install time (kept so listing needs no round trip nor credentials)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class McpConfig(BaseModel):
    """The stored configuration of one MCP provider. Credentials are not part of it: `api_key` is sent as
    `<auth_header>: <auth_scheme> <api_key>`, and any credential named `header:<Name>` as header `<Name>`."""

    model_config = ConfigDict(extra="forbid")

    server_url: str
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    headers: dict[str, str] = Field(default_factory=dict)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    tools: list[McpToolSchema] | None = None

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, "server_url")


def http_url(value: str, what: str) -> str:
    """`value` when it is an http(s) URL with a host. Raises ValueError naming `what`, never the value."""
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"{what} must be an http(s) URL")
    return value


def server_label(url: str) -> str:
    """How errors name a server known by its URL: host and port only, since paths and queries often carry an
    access key."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or "MCP server"


def transport_for(url: str) -> Literal["streamable_http", "sse"]:
    """The transport a bare URL implies: SSE when its path ends in `/sse` (the SDK's and most hosts' convention),
    streamable HTTP otherwise."""
    return "sse" if url.split("?")[0].rstrip("/").endswith("/sse") else "streamable_http"


@dataclass(frozen=True)
class McpServer:
    """One MCP server as one operation reaches it: URL, transport, the headers to send (credentials included;
    they are never logged nor part of an error), how long the whole operation may take, how long an SSE stream may
    stay silent (default: `timeout`), and the `label` errors name it by."""

    url: str
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    sse_read_timeout: float | None = None
    label: str = "MCP"


def egress_guard(context: ProviderContext) -> GuardedBackend:
    """The egress guard behind the context's HTTP client; without one still "public internet only", never
    unguarded."""
    backend = getattr(context.http, "backend", None)
    return backend if isinstance(backend, GuardedBackend) else GuardedBackend(EgressPolicy())


class McpProvider:
    """One MCP server. Thread-safe: every call opens its own session on its own loop."""

    provider_type = "mcp"

    def __init__(self, provider_id: str, config: McpConfig, context: ProviderContext) -> None:
        self.provider_id = provider_id
        self.config = config
        # An agent's server by URL has the URL as its id: errors name its host only.
        self._label = server_label(provider_id) if "://" in provider_id else provider_id
        self._timeout = config.timeout_seconds or context.timeout_seconds
        self._guard = egress_guard(context)
        self._listed: tuple[float, list[McpToolSchema]] | None = None

    def tools(self) -> list[ToolSpec]:
        """The tools discovered at install; else a live listing (without credentials), kept for a minute."""
        found = self.config.tools
        if found is None:
            cached = self._listed
            if cached is None or time.monotonic() - cached[0] > LISTING_TTL_SECONDS:
                cached = self._listed = (time.monotonic(), self.discover({}))
            found = cached[1]
        return [self._spec(tool) for tool in found]

    def discover(self, credentials: Mapping[str, str]) -> list[McpToolSchema]:
        """List the server's tools now (the registry stores them in `config.tools` at install)."""
        return self._run(list_tools, credentials)

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        known = {t.name for t in self.config.tools} if self.config.tools is not None else None
        if known is not None and tool_name not in known:
            raise ToolNotFound(f"MCP provider {self._label!r} has no tool {tool_name!r}")

        async def call(session: Any) -> Any:
            if known is None and tool_name not in {t.name for t in await list_tools(session)}:
                raise ToolNotFound(f"MCP provider {self._label!r} has no tool {tool_name!r}")
            return await session.call_tool(tool_name, arguments)
        return checked(self._run(call, credentials), tool_name)

    def _spec(self, tool: McpToolSchema) -> ToolSpec:
        return ToolSpec(ToolRef("mcp", self.provider_id, tool.name), tool.description, tool.input_schema)

    def _headers(self, credentials: Mapping[str, str]) -> dict[str, str]:
        headers = dict(self.config.headers)
        for key, value in credentials.items():
            if key.startswith("header:") and value:
                headers[key.removeprefix("header:")] = value
        if credentials.get("api_key"):
            scheme = f"{self.config.auth_scheme} " if self.config.auth_scheme else ""
            headers[self.config.auth_header] = scheme + credentials["api_key"]
        return headers

    def _run(self, operation: Callable[[Any], Awaitable[T]], credentials: Mapping[str, str]) -> T:
        server = McpServer(self.config.server_url, self.config.transport, self._headers(credentials), self._timeout,
                           label=self._label)
        return run_on(server, self._guard, operation)


def run_on(server: McpServer, guard: GuardedBackend, operation: Callable[[Any], Awaitable[T]]) -> T:
    """Open a session with `server` through `guard`, run `operation(session)` and close it, all within
    `server.timeout`. Raises ToolInvokeError (unreachable, refused by the guard, timed out, protocol error) naming
    the server by its label; a ToolNotFound or ToolInvokeError the operation raises passes through."""
    async def main() -> T:
        with anyio.fail_after(server.timeout):
            return await _session_call(server, guard, operation)
    try:
        return _run_sync(main)
    except TimeoutError as exc:
        raise ToolInvokeError(f"MCP server {server.label!r} did not answer within {server.timeout:g}s") from exc
    except BaseException as exc:  # the SDK's task groups wrap errors in exception groups
        raise _translate(exc, server.label) from exc


async def _session_call(server: McpServer, guard: GuardedBackend, operation: Callable[[Any], Awaitable[T]]) -> T:
    from mcp.client.session import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    headers = dict(server.headers)
    if server.transport == "sse":
        def factory(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
                    auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
            return guarded_async_client(guard, headers, timeout, auth)
        transport = sse_client(server.url, headers=headers, timeout=server.timeout,
                               sse_read_timeout=server.sse_read_timeout or server.timeout,
                               httpx_client_factory=factory)
        async with transport as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await operation(session)
    async with guarded_async_client(guard, headers, httpx2.Timeout(server.timeout)) as client, \
            streamable_http_client(server.url, http_client=client) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        return await operation(session)


def checked(result: Any, tool_name: str) -> ToolResult:
    """A CallToolResult folded (`fold_result`), or ToolInvokeError with the server's own error text."""
    if result.is_error:
        detail = " ".join(getattr(c, "text", "") for c in result.content).strip()[:ERROR_TEXT_CHARS]
        raise ToolInvokeError(f"MCP tool {tool_name!r} failed: {detail or 'the server reported an error'}")
    return fold_result(result)


async def list_tools(session: Any) -> list[McpToolSchema]:
    """Every tool the session's server offers, following its pagination."""
    tools: list[McpToolSchema] = []
    cursor: str | None = None
    while True:
        from mcp_types import PaginatedRequestParams

        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += [McpToolSchema(name=t.name, description=t.description or "", input_schema=dict(t.input_schema))
                  for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return tools


def _run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main` on a private loop; from a thread that already runs a loop, on a short-lived helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _private_loop(main)
    with ThreadPoolExecutor(1, thread_name_prefix="mcp-call") as pool:
        return pool.submit(_private_loop, main).result()


def _private_loop(main: Callable[[], Awaitable[T]]) -> T:
    # Not `anyio.run`/`asyncio.run`: they leave the calling thread with no current event loop when they finish,
    # which breaks any later code of that thread that asks for one (Pulumi's Outputs do).
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _translate(exc: BaseException, label: str) -> BaseException:
    """The first meaningful error inside (possibly nested) exception groups, as a Trellis error."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TrellisError):
        return exc if isinstance(exc, ToolNotFound | ToolInvokeError) else ToolInvokeError(
            f"MCP server {label!r}: {exc.message}")
    if isinstance(exc, TimeoutError):
        return ToolInvokeError(f"MCP server {label!r} timed out")
    if isinstance(exc, httpx2.HTTPStatusError):
        # Its own text quotes the URL, whose path or query often carries an access key.
        return ToolInvokeError(f"MCP server {label!r} answered with status code {exc.response.status_code}")
    if isinstance(exc, Exception):
        return ToolInvokeError(f"MCP server {label!r} failed: {type(exc).__name__}: "
                               f"{str(exc)[:ERROR_TEXT_CHARS]}")
    return exc  # KeyboardInterrupt, SystemExit and the like pass through untouched


def fold_result(result: Any) -> ToolResult:
    """Dify's tool message shapes from an MCP CallToolResult."""
    texts: list[str] = []
    json_parts: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for item in result.content:
        kind = getattr(item, "type", "")
        if kind == "text":
            texts.append(item.text)
            parsed = _json_object(item.text)
            if parsed is not None:
                json_parts.append(parsed)
        elif kind in ("image", "audio"):
            files.append(_file(kind, item.mime_type, item.data))
        elif kind == "resource":
            resource = item.resource
            if getattr(resource, "text", None) is not None:
                texts.append(resource.text)
            elif getattr(resource, "blob", None) is not None:
                files.append(_file("document", resource.mime_type or "application/octet-stream", resource.blob,
                                   str(resource.uri)))
        elif kind == "resource_link":
            json_parts.append({"resource_link": {"uri": str(item.uri), "name": item.name,
                                                 "mime_type": item.mime_type}})
    if result.structured_content is not None and not json_parts:
        json_parts.append(dict(result.structured_content))
    return ToolResult(text="\n".join(texts), json=tuple(json_parts), files=tuple(files))


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else {"data": value}


def _file(kind: str, mime_type: str | None, data_b64: str, uri: str = "") -> dict[str, Any]:
    mime = mime_type or "application/octet-stream"
    size = len(base64.b64decode(data_b64, validate=False))
    if size > MAX_FILE_BYTES:
        raise ToolInvokeError(f"MCP tool returned a file larger than {MAX_FILE_BYTES} bytes")
    name = uri.rsplit("/", 1)[-1] if uri else f"{kind}.{mime.split('/')[-1]}"
    return {"type": "image" if kind == "image" else kind, "transfer_method": "tool_file", "filename": name,
            "mime_type": mime, "size": size, "url": f"data:{mime};base64,{data_b64}"}


def install_config(provider_id: str, config: Mapping[str, Any], credentials: Mapping[str, str],
                   context: ProviderContext) -> dict[str, Any]:
    """The install-time step: validate `config`, list the server's tools with the credentials, and return the
    config to store (with `tools` filled, so listing later needs neither a round trip nor credentials). Raises
    ValidationError for bad config, ToolInvokeError when the server cannot be reached or refuses."""
    provider = from_config(provider_id, {**dict(config), "tools": None}, context)
    tools = provider.discover(credentials)
    return provider.config.model_copy(update={"tools": tools}).model_dump(mode="json")


def from_config(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> McpProvider:
    """The factory the registry's KINDS map holds for `mcp`. Raises pydantic's ValidationError on bad config."""
    return McpProvider(provider_id, McpConfig.model_validate(dict(config)), context)
