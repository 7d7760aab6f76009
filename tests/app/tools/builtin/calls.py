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
