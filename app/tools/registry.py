"""The tool registry: resolves a `ToolRef` for a workspace to a provider and implements the engine's
`ToolRuntime` port, for the tool node, the agent node and the management API alike.

Resolution: `builtin` and `plugin` refs first look for a plugin the workspace installed under that id, then for
a built-in Trellis implements natively, by its id (`time`) or by the Dify plugin id it stands in for
(`langgenius/time/time`). Other kinds (`api`, `mcp`, `workflow`) are installations, found by provider id or
display name and built by the factory of their kind in `KINDS`. Built providers are cached per workspace and
installation version; credentials are read from the store for each call and never cached here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import InvalidParam, ToolInvokeError, ToolNotFound, TrellisError
from app.tools import mcp, plugin, workflow_tool
from app.tools.builtin import ALIASES, BUILTINS, BuiltinProvider, BuiltinSpec
from app.tools.installation import Installation, NoStore, ProviderStore
from app.tools.openapi import from_config as openapi_from_config
from app.tools.provider import ProviderContext, ProviderFactory, ToolProvider

log = logging.getLogger(__name__)

# Installed provider kinds and the factory that builds each from its stored configuration.
KINDS: dict[str, ProviderFactory] = {"api": openapi_from_config, "mcp": mcp.from_config,
                                     "workflow": workflow_tool.from_config, "plugin": plugin.from_config}
NATIVE_TYPES = ("builtin", "plugin")
CACHE_SIZE = 512


def builtin_id(provider_id: str) -> str | None:
    """The native built-in a Dify provider id names (`time`, `langgenius/time/time` -> `time`), or None."""
    if provider_id in BUILTINS:
        return provider_id
    return ALIASES.get(provider_id)


@dataclass(frozen=True)
class Resolved:
    provider: ToolProvider
    credential_key: tuple[str, str]  # (provider_type, provider_id) of the store row holding its credentials


class ToolRegistry:
    """Thread-safe; one per process, shared by every run. `kinds` defaults to `KINDS`."""

    def __init__(self, context: ProviderContext, store: ProviderStore | None = None,
                 kinds: Mapping[str, ProviderFactory] | None = None,
                 builtins: Mapping[str, BuiltinSpec] | None = None) -> None:
        self._context = context
        self.store: ProviderStore = store or NoStore()
        self.kinds = dict(KINDS if kinds is None else kinds)
        self.builtins = dict(BUILTINS if builtins is None else builtins)
        self._cache: dict[tuple[str, ...], ToolProvider] = {}
        self._lock = threading.Lock()

    # The ToolRuntime port.
    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        resolved = self.resolve(workspace_id, ref)
        for spec in resolved.provider.tools():
            if spec.ref.tool_name == ref.tool_name:
                return dataclasses.replace(spec, ref=ref)
        raise ToolNotFound(f"tool {ref.tool_name!r} is not offered by provider {ref.provider_id!r}")

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        resolved = self.resolve(workspace_id, ref)
        credentials = self.store.credentials(workspace_id, *resolved.credential_key)
        try:
            return resolved.provider.invoke(ref.tool_name, arguments, credentials)
        except TrellisError:
            raise
        except Exception as exc:
            # Adapters run code the deployment did not write (OpenAPI servers, MCP servers, plugins): whatever
            # escapes them fails this tool call, with the provider named, instead of the worker.
            log.warning("tool %s raised %s", ref.label, type(exc).__name__)
            raise ToolInvokeError(f"tool {ref.label} failed: {type(exc).__name__}: {exc}") from exc

    # Resolution and building.
    def resolve(self, workspace_id: str, ref: ToolRef) -> Resolved:
        """The provider a ref names in this workspace. Raises ToolNotFound naming it."""
        if ref.provider_type in NATIVE_TYPES:
            plugin = self.store.find(workspace_id, "plugin", ref.provider_id)
            if plugin is not None and "plugin" in self.kinds:
                return Resolved(self._installed(workspace_id, plugin), ("plugin", plugin.provider_id))
            native = builtin_id(ref.provider_id)
            if native is not None and native in self.builtins:
                return Resolved(self._builtin(workspace_id, native), ("builtin", native))
            raise ToolNotFound(f"tool provider {ref.provider_id!r} ({ref.provider_type}) is not available: Trellis "
                               "has no native version of it and no plugin of that id is installed")
        if ref.provider_type not in self.kinds:
            raise ToolNotFound(f"tool provider kind {ref.provider_type!r} is not supported "
                               f"(provider {ref.provider_id!r}, tool {ref.tool_name!r})")
        found = self.store.find(workspace_id, ref.provider_type, ref.provider_id, ref.provider_name)
        if found is None and ref.provider_type == "mcp" and _is_url(ref.provider_id):
            return Resolved(self._server(workspace_id, ref.provider_id), ("mcp", ref.provider_id))
        if found is None:
            named = f" ({ref.provider_name})" if ref.provider_name else ""
            raise ToolNotFound(f"{ref.provider_type} tool provider {ref.provider_id!r}{named} is not installed in "
                               "this workspace: install it with POST /manage/v1/tool-providers")
        return Resolved(self._installed(workspace_id, found), (found.provider_type, found.provider_id))

    def list_tools(self, workspace_id: str, provider_type: str, provider_id: str) -> list[ToolSpec]:
        """Every tool of one provider (the engine's optional ToolCatalog port: agents that bring a whole MCP server
        by URL). Raises ToolNotFound when it is not installed or cannot be reached."""
        resolved = self.resolve(workspace_id, ToolRef(provider_type, provider_id, ""))
        try:
            return resolved.provider.tools()
        except ToolInvokeError as exc:
            raise ToolNotFound(exc.message) from exc

    def _server(self, workspace_id: str, url: str) -> ToolProvider:
        # An MCP server an agent names by URL (Dify's MCP agent strategies): reached through the egress guard like
        # any other request, without stored credentials; a key inside the URL is the user's own choice.
        factory = self.kinds["mcp"]
        return self._cached(("mcp-url", workspace_id, url), lambda: factory(
            url, {"server_url": url, "transport": mcp.transport_for(url)}, self.bound(workspace_id)))

    def build(self, workspace_id: str, provider_type: str, provider_id: str,
              config: Mapping[str, Any]) -> ToolProvider:
        """A fresh provider of an installed kind from a configuration (not cached): how an install is checked.
        Raises InvalidParam (a bad configuration) or ToolNotFound (an unknown kind)."""
        factory = self.kinds.get(provider_type)
        if factory is None or provider_type == "builtin":
            raise ToolNotFound(f"tool provider kind {provider_type!r} cannot be installed; kinds: "
                               f"{', '.join(sorted(self.kinds)) or 'none'}")
        try:
            return factory(provider_id, config, self.bound(workspace_id))
        except ValidationError as exc:  # every kind validates its configuration with pydantic
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "config"
            raise InvalidParam(f"invalid {provider_type} provider configuration: {where}: {first['msg']}",
                               params="config") from exc

    def _builtin(self, workspace_id: str, provider_id: str) -> ToolProvider:
        key = ("builtin", workspace_id, provider_id)
        return self._cached(key, lambda: BuiltinProvider(self.builtins[provider_id], self.bound(workspace_id)))

    def _installed(self, workspace_id: str, installation: Installation) -> ToolProvider:
        factory = self.kinds[installation.provider_type]
        key = (installation.provider_type, workspace_id, installation.id, installation.version)
        return self._cached(key, lambda: factory(installation.provider_id, installation.config,
                                                 self.bound(workspace_id)))

    def bound(self, workspace_id: str) -> ProviderContext:
        """The shared provider context for one workspace."""
        return dataclasses.replace(self._context, workspace_id=workspace_id)

    def _cached(self, key: tuple[str, ...], build: Any) -> ToolProvider:
        with self._lock:
            provider = self._cache.get(key)
        if provider is not None:
            return provider
        provider = build()  # outside the lock: building may parse a schema or reach a server
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()  # rare: hundreds of workspaces' providers; rebuilt on demand
            return self._cache.setdefault(key, provider)

    def forget(self, workspace_id: str) -> None:
        """Drop the workspace's cached providers (after an install, update or delete in this process)."""
        with self._lock:
            for key in [k for k in self._cache if k[1] == workspace_id]:
                del self._cache[key]

    # Import checks.
    def problem(self, workspace_id: str, ref: ToolRef) -> str | None:
        """Why a run could not call `ref` here (`not_installed`, `credentials_missing`), or None. Builds no
        installed provider, so an import never waits on a remote server."""
        try:
            if ref.provider_type in NATIVE_TYPES and self.store.find(workspace_id, "plugin", ref.provider_id):
                return None
            resolved = self.resolve(workspace_id, ref) if ref.provider_type in NATIVE_TYPES else None
        except ToolNotFound:
            return "not_installed"
        if resolved is None:
            if ref.provider_type not in self.kinds:
                return "not_installed"
            found = self.store.find(workspace_id, ref.provider_type, ref.provider_id, ref.provider_name)
            return None if found is not None else "not_installed"
        spec = self.builtins[resolved.credential_key[1]]
        if ref.tool_name not in spec.by_name:
            return "not_installed"
        if spec.credentials:
            have = self.store.credentials(workspace_id, "builtin", spec.provider_id)
            if any(not have.get(name) for name in spec.credentials):
                return "credentials_missing"
        return None


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))
