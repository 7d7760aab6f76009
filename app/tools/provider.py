"""The contract every tool provider kind implements, and the context the registry hands to adapters.

A provider is one installed thing that offers tools: a built-in (`time`), an OpenAPI schema, an MCP server,
a published workflow, a dify-plugin package. Adapters translate their vendor's errors into `ToolInvokeError`
(chaining the cause) and never return vendor types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.engine.ports import ToolResult, ToolSpec


class ToolProvider(Protocol):
    """One installed provider. `provider_type` is builtin | api | mcp | workflow | plugin."""

    provider_type: str
    provider_id: str

    def tools(self) -> list[ToolSpec]:
        """Every tool this provider offers, with the JSON Schema of its arguments."""
        ...

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        """Run one tool. Raises ToolNotFound for an unknown tool name, ToolCredentialsMissing when a required
        credential is absent, ToolInvokeError when the tool ran and failed. Bounded by a timeout."""
        ...


class ToolFiles(Protocol):
    """Where tools read the files they are given and keep the files they make (the object store behind it)."""

    def read(self, workspace_id: str, file: Mapping[str, Any]) -> bytes:
        """The bytes of a file in Dify's file shape (an upload, a tool file or a remote URL). Raises
        ToolInvokeError when the file cannot be read."""
        ...

    def save(self, workspace_id: str, filename: str, data: bytes, mime_type: str) -> dict[str, Any]:
        """Store a file a tool made; returns it in Dify's file shape (`transfer_method: tool_file`)."""
        ...


@dataclass(frozen=True)
class ProviderContext:
    """What adapters may use from the outside world, handed in by the wiring: an egress-guarded HTTP client
    factory (every request leaves through the SSRF guard), the sandbox limits for child processes, and a
    timeout for one call.

    The registry hands each provider a copy bound to one workspace (`workspace_id`), so a provider is built per
    workspace and may call back into it (workflow-as-tool). `files` reads and stores files; `endpoints` overrides
    the base URL of a built-in web provider by provider id (a proxy, a self-hosted mirror, a test server)."""

    http: Any = None
    timeout_seconds: float = 30.0
    extras: dict[str, Any] = field(default_factory=dict)
    workspace_id: str = ""
    files: ToolFiles | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)


# A factory builds a provider of one kind from its stored configuration (an OpenAPI schema, an MCP URL...).
ProviderFactory = Callable[[str, Mapping[str, Any], ProviderContext], ToolProvider]
