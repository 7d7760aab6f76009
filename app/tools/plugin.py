"""Dify plugins as a tool provider kind (`provider_type: plugin`): packages built on the `dify-plugin` SDK, run
unchanged in their own process as Dify's plugin daemon runs them (local mode: JSON lines over stdin/stdout).

A `PluginHost` (one per worker, built by the wiring) owns what plugins share: the runtime environments, the egress
proxy their network goes through, and one child process per installed package, started on first use and reused.
`install_package` is the install-time step (unpack a `.difypkg` or take a folder, read its declarations, build its
environment) and returns the stored config; `from_config` is the factory the registry's KINDS map holds. Listing
tools reads the package's YAML and starts nothing. Credentials travel only inside the request to the child; error
texts are scrubbed of their values.
"""

from __future__ import annotations

import base64
import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import InvalidParam, ToolCredentialsMissing, ToolInvokeError, ToolNotFound
from app.providers.egress import EgressPolicy, GuardedBackend
from app.tools.plugin_package import PluginPackage, PluginToolProvider, read_package, unpack
from app.tools.plugin_process import PluginLimits, PluginProcess
from app.tools.plugin_proxy import EgressProxy
from app.tools.plugin_runtime import ensure_runtime, python_version
from app.tools.provider import ProviderContext

MIN_PYTHON = (3, 12)
MAX_FILE_BYTES = 10 * 1024 * 1024


class PluginConfig(BaseModel):
    """What the registry stores for one installed plugin tool provider."""

    model_config = ConfigDict(extra="forbid")

    package_dir: str
    provider: str = Field(description="the tool provider's name inside the plugin (identity.name)")
    python: str = Field(description="interpreter of the plugin's runtime environment")
    memory_mb: int | None = Field(default=None, ge=128, le=16384, description="address space; None: the host's")


class PluginHost:
    """Shared by every plugin provider of a worker. Thread-safe. `close` stops every child and the proxy."""

    def __init__(self, guard: GuardedBackend | None = None, base_python: str | None = None,
                 packages_dir: str | Path | None = None, runtimes_dir: str | Path | None = None,
                 limits: PluginLimits | None = None) -> None:
        self.proxy = EgressProxy(guard or GuardedBackend(EgressPolicy()))
        self.base_python = base_python
        self.packages_dir = Path(packages_dir) if packages_dir else None
        self.runtimes_dir = Path(runtimes_dir) if runtimes_dir else None
        self.limits = limits or PluginLimits()
        self._processes: dict[tuple[str, str], PluginProcess] = {}
        self._lock = threading.Lock()

    def process(self, package: PluginPackage, python: str, memory_mb: int | None = None) -> PluginProcess:
        """The (lazily started) child of `package`, shared by every provider of that package. Raises ToolNotFound
        once the package was removed (by another process too): its child, if any, is stopped then."""
        key = (str(package.root), python)
        if not package.root.is_dir():
            self.discard(package.root)
            raise ToolNotFound(f"plugin {package.plugin_id} was removed")
        with self._lock:
            if key not in self._processes:
                limits = PluginLimits(memory_mb or self.limits.memory_mb, self.limits.file_bytes,
                                      self.limits.open_files, self.limits.startup_seconds)
                self._processes[key] = PluginProcess(package, python, self.proxy.start(), limits)
            return self._processes[key]

    def discard(self, package_dir: str | Path) -> None:
        """Stop the children of an uninstalled package and delete its folder when it lies under `packages_dir`
        (a folder elsewhere, such as one a test installed in place, is left alone)."""
        root = Path(package_dir).resolve()
        with self._lock:
            stopped = [self._processes.pop(key) for key in [k for k in self._processes if k[0] == str(root)]]
        for process in stopped:
            process.close()
        if self.packages_dir is not None and root.is_relative_to(self.packages_dir.resolve()) and \
                root != self.packages_dir.resolve():
            shutil.rmtree(root, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            process.close()
        self.proxy.close()


def install_package(host: PluginHost, source: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Install a plugin a user brought: a `.difypkg` file or an unpacked folder. Copies it under the host's
    `packages_dir`, builds its runtime environment, and returns `(provider_id, config)` for each tool provider it
    declares (provider ids in Dify's form `author/name/provider`). Raises InvalidParam for a bad package or a
    failed environment build."""
    if host.packages_dir is None or host.runtimes_dir is None or not host.base_python:
        raise InvalidParam("plugins are not enabled: no plugin folders or base interpreter are configured")
    if python_version(host.base_python) < MIN_PYTHON:
        raise InvalidParam(f"the plugin base interpreter must be Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    source = Path(source)
    target = host.packages_dir / uuid.uuid4().hex
    if source.is_dir():
        read_package(source)  # refuse a bad folder before copying it
    try:
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        else:
            unpack(source, target)  # a bad archive leaves nothing behind either
        package = read_package(target)
        python = ensure_runtime(package, host.base_python, host.runtimes_dir)
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return [(f"{package.plugin_id}/{p.name}", {"package_dir": str(target), "provider": p.name, "python": python})
            for p in package.providers]


class PluginProvider:
    provider_type = "plugin"

    def __init__(self, provider_id: str, config: PluginConfig, host: PluginHost, timeout: float) -> None:
        self.provider_id = provider_id
        self.config = config
        self.package = read_package(config.package_dir)
        found = [p for p in self.package.providers if p.name == config.provider]
        if not found:
            raise InvalidParam(f"plugin {self.package.plugin_id} declares no tool provider {config.provider!r}")
        self.declaration: PluginToolProvider = found[0]
        self._host = host
        self._timeout = timeout

    def tools(self) -> list[ToolSpec]:
        return [ToolSpec(ToolRef("plugin", self.provider_id, t.name), t.description, t.parameters)
                for t in self.declaration.tools]

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        if tool_name not in {t.name for t in self.declaration.tools}:
            raise ToolNotFound(f"plugin provider {self.provider_id!r} has no tool {tool_name!r}")
        self._check_credentials(credentials)
        tool = next(t for t in self.declaration.tools if t.name == tool_name)
        messages = self._call({"type": "tool", "action": "invoke_tool", "provider": self.config.provider,
                               "tool": tool_name, "credentials": dict(credentials), "credential_type": "api-key",
                               "tool_parameters": coerce_arguments(tool.parameters, arguments)}, credentials)
        return fold_messages(messages)

    def validate_credentials(self, credentials: Mapping[str, str]) -> None:
        """Ask the plugin's provider to validate credentials (Dify's `validate_tool_credentials`). Raises
        ToolCredentialsMissing when they are absent or rejected."""
        self._check_credentials(credentials)
        try:
            self._call({"type": "tool", "action": "validate_tool_credentials", "provider": self.config.provider,
                        "credentials": dict(credentials)}, credentials)
        except ToolInvokeError as exc:
            raise ToolCredentialsMissing(f"credentials rejected by {self.provider_id}: {exc.message}") from exc

    def _check_credentials(self, credentials: Mapping[str, str]) -> None:
        missing = [c["name"] for c in self.declaration.credentials if c["required"] and not credentials.get(c["name"])]
        if missing:
            raise ToolCredentialsMissing(f"plugin provider {self.provider_id} needs credentials: {', '.join(missing)}")

    def _call(self, request: dict[str, Any], credentials: Mapping[str, str]) -> list[dict[str, Any]]:
        process = self._host.process(self.package, self.config.python, self.config.memory_mb)
        try:
            return process.call({"user_id": "trellis", **request}, self._timeout)
        except ToolInvokeError as exc:
            raise ToolInvokeError(_scrub(exc.message, credentials)) from None

    def close(self) -> None:
        """Nothing to release per provider: the host owns the processes."""


def coerce_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """Dify's conversion before a plugin tool runs: declared defaults for absent parameters, and numbers and
    booleans given as text (a template's output) turned into their type. Raises ToolInvokeError naming a value
    that cannot be converted."""
    out = dict(arguments)
    for name, prop in (schema.get("properties") or {}).items():
        value = out.get(name)
        if value is None or value == "":
            if "default" in prop:
                out[name] = prop["default"]
            continue
        kind = prop.get("type")
        try:
            if kind == "number" and isinstance(value, str):
                number = float(value)
                out[name] = int(number) if number.is_integer() and "." not in value else number
            elif kind == "boolean" and isinstance(value, str):
                out[name] = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[
                    value.strip().lower()]
        except (ValueError, KeyError) as exc:
            raise ToolInvokeError(f"parameter {name!r} must be a {kind}, got {value!r}") from exc
    return out


def _scrub(text: str, credentials: Mapping[str, str]) -> str:
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def fold_messages(messages: list[dict[str, Any]]) -> ToolResult:
    """Dify's tool message stream (text, json, variable, blob, blob_chunk, image/link...) as one ToolResult."""
    texts: list[str] = []
    json_parts: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    variables: dict[str, Any] = {}
    chunks: dict[str, list[dict[str, Any]]] = {}
    for item in messages:
        kind, message, meta = item.get("type"), item.get("message") or {}, item.get("meta") or {}
        if kind == "text":
            texts.append(str(message.get("text", "")))
        elif kind == "json":
            value = message.get("json_object")
            json_parts.append(value if isinstance(value, dict) else {"data": value})
        elif kind == "variable":
            name, value = str(message.get("variable_name") or ""), message.get("variable_value")
            if message.get("stream") and isinstance(variables.get(name), str):
                variables[name] += value
            else:
                variables[name] = value
        elif kind == "blob":
            files.append(_blob_file(base64.b64decode(message.get("blob", "")), meta))
        elif kind == "blob_chunk":
            chunks.setdefault(message.get("id", ""), []).append(item)
        elif kind in ("image", "link", "image_link") and message.get("text"):
            files.append({"type": "image" if "image" in kind else "document", "transfer_method": "remote_url",
                          "url": message["text"], "filename": str(message["text"]).rsplit("/", 1)[-1]})
    for parts in chunks.values():
        ordered = sorted(parts, key=lambda p: p["message"].get("sequence", 0))
        blob = b"".join(base64.b64decode(p["message"].get("blob", "")) for p in ordered)
        files.append(_blob_file(blob, ordered[0].get("meta") or {}))
    return ToolResult(text="".join(texts), json=tuple(json_parts), files=tuple(files), variables=variables)


def _blob_file(blob: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    if len(blob) > MAX_FILE_BYTES:
        raise ToolInvokeError(f"plugin returned a file larger than {MAX_FILE_BYTES} bytes")
    mime = str(meta.get("mime_type") or "application/octet-stream")
    kind = "image" if mime.startswith("image/") else "audio" if mime.startswith("audio/") else "document"
    return {"type": kind, "transfer_method": "tool_file", "filename": str(meta.get("filename") or "file"),
            "mime_type": mime, "size": len(blob), "url": f"data:{mime};base64,{base64.b64encode(blob).decode()}"}


def from_config(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> PluginProvider:
    """The factory the registry's KINDS map holds for `plugin`. Uses `context.extras["plugin_host"]` (one
    PluginHost per worker, from the wiring) so children are shared; without one the provider gets a private host."""
    host = context.extras.get("plugin_host")
    if not isinstance(host, PluginHost):
        backend = getattr(context.http, "backend", None)
        host = PluginHost(backend if isinstance(backend, GuardedBackend) else None)
    return PluginProvider(provider_id, PluginConfig.model_validate(dict(config)), host, context.timeout_seconds)
