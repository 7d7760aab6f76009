"""Managing a workspace's tools through the management API: list providers and tools with their schemas,
install, update and remove providers of the installed kinds, set and clear credentials.

Credential values go in and never come out: every view lists only the names that are set."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.engine.ports import ToolSpec
from app.errors import Conflict, InvalidParam, NotFound, TrellisError
from app.models.base import new_id
from app.services.tools.store import ToolProviderStore, clean_credentials
from app.tools.builtin import BuiltinSpec
from app.tools.installation import Installation
from app.tools.registry import ToolRegistry, builtin_id


def tool_view(spec: ToolSpec) -> dict[str, Any]:
    return {"name": spec.ref.tool_name, "description": spec.description, "parameters": spec.parameters}


def builtin_view(spec: BuiltinSpec, credential_names: tuple[str, ...]) -> dict[str, Any]:
    return {"provider_type": "builtin", "provider_id": spec.provider_id, "name": spec.label,
            "description": spec.description, "aliases": list(spec.aliases),
            "credentials_required": list(spec.credentials), "credentials_optional": list(spec.optional_credentials),
            "credentials_set": list(credential_names)}


def installed_view(item: Installation) -> dict[str, Any]:
    return {"id": item.id, "provider_type": item.provider_type, "provider_id": item.provider_id, "name": item.name,
            "config": dict(item.config), "credentials_set": list(item.credential_names)}


def _text(body: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InvalidParam(f"{key} must be a non-empty string of at most 255 characters", params=key)
    return value.strip()


class ToolAdmin:
    def __init__(self, store: ToolProviderStore, registry: ToolRegistry) -> None:
        self.store = store
        self.registry = registry

    def providers(self, workspace_id: str) -> dict[str, Any]:
        rows = self.store.installed(workspace_id)
        builtin_creds = {r.provider_id: r.credential_names for r in rows if r.provider_type == "builtin"}
        return {"builtin": [builtin_view(spec, builtin_creds.get(pid, ()))
                            for pid, spec in sorted(self.registry.builtins.items())],
                "installed": [installed_view(r) for r in rows if r.provider_type != "builtin"],
                "kinds": sorted(k for k in self.registry.kinds if k != "builtin")}

    def tools(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every provider with its tools and their JSON Schemas; an installed provider that cannot be built or
        listed (a server down) is shown with its error instead of its tools."""
        out = []
        listing = self.providers(workspace_id)
        for view in listing["builtin"]:
            provider = self.registry.builtins[view["provider_id"]]
            out.append({**view, "tools": [tool_view(t.spec(provider.provider_id, for_model=False))
                                          for t in provider.tools]})
        for item in listing["installed"]:
            entry = dict(item)
            try:
                built = self.registry.build(workspace_id, item["provider_type"], item["provider_id"], item["config"])
                entry["tools"] = [tool_view(t) for t in built.tools()]
            except TrellisError as exc:
                entry["tools"], entry["error"] = [], exc.message
            out.append(entry)
        return out

    def install(self, workspace_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Raises InvalidParam (bad body or configuration), Conflict (the id is taken), ToolNotFound (kind)."""
        kind = _text(body, "provider_type", required=True) or ""
        provider_id = _text(body, "provider_id")
        name = _text(body, "name", required=True) or ""
        config = body.get("config") or {}
        if not isinstance(config, Mapping):
            raise InvalidParam("config must be an object", params="config")
        credentials = clean_credentials(body.get("credentials") or {})
        provider_id = provider_id or new_id()
        config = self._prepared(workspace_id, kind, provider_id, config, credentials)
        built = self.registry.build(workspace_id, kind, provider_id, config)
        installed = self.store.add(workspace_id, kind, provider_id, name, config, credentials)
        self.registry.forget(workspace_id)
        return {**installed_view(installed), "tools": [t.ref.tool_name for t in _listed(built)]}

    def _prepared(self, workspace_id: str, kind: str, provider_id: str, config: Mapping[str, Any],
                  credentials: Mapping[str, str]) -> Mapping[str, Any]:
        """Kind-specific install steps. A plugin's configuration names folders and an interpreter on the
        worker, so it only comes from `install_plugin` (never from a request body); a workflow tool may only call
        an app of the installer's own workspace; an MCP server's tools are listed once, here."""
        if kind == "plugin":
            raise InvalidParam("a plugin's configuration comes from its package: POST "
                               "/manage/v1/tool-providers/plugins with the .difypkg as the body", params="config")
        if kind == "workflow":
            return {**dict(config), "workspace_id": workspace_id}
        if kind == "mcp":
            from app.tools.mcp import install_config

            try:
                return install_config(provider_id, config, credentials, self.registry.bound(workspace_id))
            except ValidationError as exc:
                raise InvalidParam(f"invalid MCP server configuration: {exc.errors()[0]['msg']}",
                                   params="config") from exc
        return config

    def install_plugin(self, workspace_id: str, package: Path, name: str | None = None) -> list[dict[str, Any]]:
        """Install every tool provider of a plugin package (a `.difypkg` file or an unpacked folder). Raises
        InvalidParam (a bad package, plugins not enabled), Conflict (a provider id is taken)."""
        from app.tools.plugin import install_package

        host = self.registry.bound(workspace_id).extras.get("plugin_host")
        if host is None or not getattr(host, "base_python", None):
            raise InvalidParam("plugins are not enabled in this deployment (set PLUGIN_PYTHON)")
        providers = install_package(host, package)
        try:
            # Every provider is checked before any is stored, so a refused package installs nothing.
            for provider_id, config in providers:
                if self.store.find(workspace_id, "plugin", provider_id) is not None:
                    raise Conflict(f"plugin tool provider {provider_id!r} is already installed; remove it first")
                self.registry.build(workspace_id, "plugin", provider_id, config)
            installed = [installed_view(self.store.add(workspace_id, "plugin", provider_id, name or provider_id,
                                                       config, {}))
                         for provider_id, config in providers]
        except Exception:
            for folder in {str(config["package_dir"]) for _, config in providers}:
                shutil.rmtree(folder, ignore_errors=True)  # the unpacked copy no installation points at
            raise
        self.registry.forget(workspace_id)
        return installed

    def update(self, workspace_id: str, record_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Raises InvalidParam (bad body; a plugin's configuration, which only its package sets), NotFound."""
        current = self.store.get(workspace_id, record_id)
        config = body.get("config")
        credentials = clean_credentials(body["credentials"]) if body.get("credentials") is not None else None
        if config is not None:
            if not isinstance(config, Mapping):
                raise InvalidParam("config must be an object", params="config")
            # The same kind-specific steps as an install: a body never points a plugin at a folder or an
            # interpreter, nor a workflow tool at another workspace's app.
            known = credentials if credentials is not None else self.store.credentials(
                workspace_id, current.provider_type, current.provider_id)
            config = self._prepared(workspace_id, current.provider_type, current.provider_id, config, known)
            self.registry.build(workspace_id, current.provider_type, current.provider_id, config)
        changed = self.store.change(workspace_id, record_id, _text(body, "name"), config, credentials)
        self.registry.forget(workspace_id)
        return installed_view(changed)

    def delete(self, workspace_id: str, record_id: str) -> None:
        """Remove an installed provider. The last provider of a plugin package takes the package with it: its
        children stop and its folder is deleted (other processes stop theirs on their next call)."""
        removed = self.store.get(workspace_id, record_id)
        self.store.remove(workspace_id, record_id)
        self.registry.forget(workspace_id)
        package_dir = removed.config.get("package_dir") if removed.provider_type == "plugin" else None
        host = self.registry.bound(workspace_id).extras.get("plugin_host")
        if package_dir and host is not None and not self.store.package_in_use(str(package_dir)):
            host.discard(package_dir)

    def set_credentials(self, workspace_id: str, provider_type: str, provider_id: str, values: Any) -> list[str]:
        """Replace a provider's credentials; returns the names now set. Built-ins accept only the names they
        declare; installed providers are found by provider id."""
        credentials = clean_credentials(values)
        if provider_type == "builtin":
            spec = self._builtin(provider_id)
            allowed = set(spec.credentials) | set(spec.optional_credentials)
            unknown = sorted(set(credentials) - allowed)
            if unknown:
                raise InvalidParam(f"built-in {spec.provider_id!r} takes credentials "
                                   f"{', '.join(sorted(allowed)) or 'none'}; unknown: {', '.join(unknown)}",
                                   params="credentials")
            self.store.put_builtin_credentials(workspace_id, spec.provider_id, credentials)
        else:
            self.store.change(workspace_id, self._installed(workspace_id, provider_type, provider_id).id,
                              None, None, credentials)
        self.registry.forget(workspace_id)
        return sorted(credentials)

    def delete_credentials(self, workspace_id: str, provider_type: str, provider_id: str) -> None:
        if provider_type == "builtin":
            self.store.delete_builtin_credentials(workspace_id, self._builtin(provider_id).provider_id)
        else:
            self.store.change(workspace_id, self._installed(workspace_id, provider_type, provider_id).id,
                              None, None, {})
        self.registry.forget(workspace_id)

    def _builtin(self, provider_id: str) -> BuiltinSpec:
        native = builtin_id(provider_id)
        if native is None or native not in self.registry.builtins:
            raise NotFound(f"Trellis has no built-in tool provider {provider_id!r}")
        return self.registry.builtins[native]

    def _installed(self, workspace_id: str, provider_type: str, provider_id: str) -> Installation:
        found = self.store.find(workspace_id, provider_type, provider_id)
        if found is None:
            raise NotFound(f"no {provider_type} tool provider {provider_id!r} is installed")
        return found


def _listed(provider: Any) -> list[ToolSpec]:
    try:
        return list(provider.tools())
    except TrellisError:
        return []
