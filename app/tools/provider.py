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


@dataclass(frozen=True)
class ProviderContext:
    """What adapters may use from the outside world, handed in by the wiring: an egress-guarded HTTP client
    factory (every request leaves through the SSRF guard), the sandbox limits for child processes, and a
    timeout for one call."""

    http: Any = None
    timeout_seconds: float = 30.0
    extras: dict[str, Any] = field(default_factory=dict)


# A factory builds a provider of one kind from its stored configuration (an OpenAPI schema, an MCP URL...).
ProviderFactory = Callable[[str, Mapping[str, Any], ProviderContext], ToolProvider]
