"""Dify plugin packages as a user brings them: a `.difypkg` (a zip) or its unpacked folder with `manifest.yaml`.

Reads the manifest and the tool provider declarations it lists (`plugins.tools`), each provider's tool YAMLs, and
turns tool parameters into the JSON Schema a model sees (`ToolSpec.parameters`). Unpacking refuses archive entries
that would land outside the target folder, links, and archives past a size or file-count cap. Runs no plugin code.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from app.errors import InvalidParam

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_FILES = 5000
# Dify parameter types -> JSON Schema types (select adds an enum; file parameters arrive as Dify file objects).
SCHEMA_TYPES = {"string": "string", "secret-input": "string", "text-input": "string", "select": "string",
                "number": "number", "boolean": "boolean", "file": "object", "files": "array",
                "array": "array", "object": "object", "model-selector": "object", "app-selector": "object",
                "tools-selector": "array", "dynamic-select": "string"}


@dataclass(frozen=True)
class PluginTool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class PluginToolProvider:
    """One tool provider a plugin declares; `credentials` lists its credential fields (name, type, required)."""

    name: str
    credentials: tuple[dict[str, Any], ...]
    tools: tuple[PluginTool, ...]


@dataclass(frozen=True)
class PluginPackage:
    root: Path
    author: str
    name: str
    version: str
    entrypoint: str
    providers: tuple[PluginToolProvider, ...] = field(default_factory=tuple)

    @property
    def plugin_id(self) -> str:
        """Dify's plugin id (`author/name`); a tool's provider id is `author/name/<provider>`."""
        return f"{self.author}/{self.name}"


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidParam(f"plugin file {path.name} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidParam(f"plugin file {path.name} is not a YAML mapping")
    return data


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InvalidParam(f"plugin path {relative!r} leaves the package")
    return path


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("en_US") or next(iter(value.values()), ""))
    return str(value or "")


def parameters_schema(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of a tool's declared parameters (both `llm` and `form` ones: the tool node fills all)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in parameters:
        name = str(param.get("name", ""))
        if not name:
            continue
        prop: dict[str, Any] = {"type": SCHEMA_TYPES.get(str(param.get("type", "string")), "string")}
        description = param.get("llm_description") or _text(param.get("human_description"))
        if description:
            prop["description"] = str(description)
        options = [o.get("value") for o in param.get("options") or [] if isinstance(o, dict)]
        if param.get("type") == "select" and options:
            prop["enum"] = options
        if param.get("default") is not None:
            prop["default"] = param["default"]
        properties[name] = prop
        if param.get("required"):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _credentials(provider: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    declared = provider.get("credentials_for_provider") or {}
    items = declared.items() if isinstance(declared, dict) else ((c.get("name"), c) for c in declared)
    return tuple({"name": name, "type": str((spec or {}).get("type", "secret-input")),
                  "required": bool((spec or {}).get("required"))} for name, spec in items if name)


def _provider(root: Path, relative: str) -> PluginToolProvider:
    data = _yaml(_inside(root, relative))
    name = str((data.get("identity") or {}).get("name") or "")
    if not name:
        raise InvalidParam(f"tool provider {relative} has no identity.name")
    tools = []
    for tool_path in data.get("tools") or []:
        tool = _yaml(_inside(root, str(tool_path)))
        tool_name = str((tool.get("identity") or {}).get("name") or "")
        if not tool_name:
            raise InvalidParam(f"tool {tool_path} has no identity.name")
        description = tool.get("description") or {}
        text = description.get("llm") or _text(description.get("human")) if isinstance(description, dict) else ""
        tools.append(PluginTool(tool_name, str(text or ""), parameters_schema(list(tool.get("parameters") or []))))
    return PluginToolProvider(name, _credentials(data), tuple(tools))


def read_package(folder: str | Path) -> PluginPackage:
    """Read an unpacked plugin. Raises InvalidParam when the manifest or a declaration is missing or malformed,
    or when the package declares no tool provider."""
    root = Path(folder).resolve()
    if not (root / "manifest.yaml").is_file():
        raise InvalidParam("plugin package has no manifest.yaml")
    manifest = _yaml(root / "manifest.yaml")
    if manifest.get("type", "plugin") != "plugin":
        raise InvalidParam(f"manifest type {manifest.get('type')!r} is not a plugin")
    runner = ((manifest.get("meta") or {}).get("runner") or {})
    if runner.get("language", "python") != "python":
        raise InvalidParam(f"plugin runner language {runner.get('language')!r} is not supported")
    tool_files = ((manifest.get("plugins") or {}).get("tools")) or []
    if not tool_files:
        raise InvalidParam("plugin declares no tool provider (plugins.tools)")
    entrypoint = str(runner.get("entrypoint") or "main")
    if not entrypoint.replace("_", "").replace(".", "").isalnum():
        raise InvalidParam(f"plugin entrypoint {entrypoint!r} is not a module name")
    return PluginPackage(root=root, author=str(manifest.get("author") or ""), name=str(manifest.get("name") or ""),
                         version=str(manifest.get("version") or ""), entrypoint=entrypoint,
                         providers=tuple(_provider(root, str(p)) for p in tool_files))


def unpack(archive: str | Path, target: str | Path) -> Path:
    """Extract a `.difypkg` into `target` (created; must be empty). Raises InvalidParam for a bad archive."""
    dest = Path(target).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise InvalidParam("plugin target folder is not empty")
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            if len(entries) > MAX_FILES or sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
                raise InvalidParam("plugin package is too large")
            for entry in entries:
                _check_entry(entry, dest)
            bundle.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise InvalidParam(f"plugin package is not a zip archive: {exc}") from exc
    return dest


def _check_entry(entry: zipfile.ZipInfo, dest: Path) -> None:
    name = PurePosixPath(entry.filename)
    if name.is_absolute() or ".." in name.parts or not (dest / name).resolve().is_relative_to(dest):
        raise InvalidParam(f"plugin package entry {entry.filename!r} leaves the package")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise InvalidParam(f"plugin package entry {entry.filename!r} is a link")
