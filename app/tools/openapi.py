"""OpenAPI tools (Dify's "custom API tools"): an OpenAPI 3 or Swagger 2 schema whose every operation becomes a
tool, called through the egress guard with the provider timeout.

Configuration (`config` of an `api` installation): `schema` (YAML or JSON text, or the parsed mapping),
optional `server_url` (overrides the schema's first server) and `auth`: `{"type": "none"}`,
`{"type": "bearer"}`, `{"type": "basic"}` or `{"type": "api_key", "in": "header" | "query", "name": "X-Api-Key"}`;
the key itself is the credential `api_key`. Local `$ref`s are resolved (jsonref); remote ones are refused, so a
schema never makes the server fetch a URL. Tool names are the operation ids, or `<path>_<method>` without one
(as Dify names them, e.g. `generate-audio_post`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jsonref
import yaml

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import InvalidParam, ToolCredentialsMissing, ToolInvokeError, ToolNotFound, TrellisError
from app.tools.provider import ProviderContext

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
MAX_SCHEMA_DEPTH = 32
AUTH_TYPES = ("none", "bearer", "basic", "api_key")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    description: str
    params: dict[str, str]  # argument name -> where it goes: path | query | header | cookie
    body: tuple[str, ...] = ()  # argument names sent as JSON body properties
    whole_body: bool = False  # the body is one argument named `body` (not an object schema)
    schema: dict[str, Any] = field(default_factory=dict)


def _refuse_remote(uri: str) -> Any:
    raise InvalidParam(f"OpenAPI schema refers to {uri!r}: only references inside the schema are allowed")


def _plain(value: Any, depth: int = 0, open_refs: frozenset[int] = frozenset()) -> Any:
    """A copy without jsonref proxies. A reference met again inside itself (a recursive schema) becomes a bare
    object, and nesting is capped at MAX_SCHEMA_DEPTH, so the copy is finite and small."""
    if isinstance(value, jsonref.JsonRef):
        target = value.__subject__
        if id(target) in open_refs:
            return {"type": "object"}
        return _plain(target, depth, open_refs | {id(target)})
    if depth > MAX_SCHEMA_DEPTH:
        return {}
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1, open_refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1, open_refs) for v in value]
    return value


def load_schema(schema: Any) -> dict[str, Any]:
    """Parse and dereference a schema. Raises InvalidParam for anything that is not OpenAPI 3 or Swagger 2."""
    try:
        raw = yaml.safe_load(schema) if isinstance(schema, str) else schema
    except yaml.YAMLError as exc:
        raise InvalidParam(f"OpenAPI schema is not valid YAML or JSON: {exc}") from exc
    if not isinstance(raw, dict) or not (str(raw.get("openapi", "")).startswith("3") or raw.get("swagger") == "2.0"):
        raise InvalidParam("schema must be an OpenAPI 3 document (`openapi: 3.x`) or Swagger 2.0 (`swagger: '2.0'`)")
    if not isinstance(raw.get("paths"), dict) or not raw["paths"]:
        raise InvalidParam("OpenAPI schema has no paths")
    try:
        resolved = jsonref.replace_refs(raw, loader=_refuse_remote, lazy_load=False)
        return _plain(resolved)  # type: ignore[no-any-return]
    except TrellisError:
        raise
    except Exception as exc:  # jsonref raises its own JsonRefError with the failing pointer
        raise InvalidParam(f"OpenAPI schema has a broken $ref: {exc}") from exc


def _server(doc: dict[str, Any]) -> str:
    if doc.get("swagger"):
        scheme = (doc.get("schemes") or ["https"])[0]
        return f"{scheme}://{doc.get('host', '')}{doc.get('basePath', '')}" if doc.get("host") else ""
    servers = doc.get("servers") or []
    return str(servers[0].get("url", "")) if servers and isinstance(servers[0], dict) else ""


def _operation(path: str, method: str, op: dict[str, Any], shared: list[Any]) -> Operation:
    name = op.get("operationId") or f"{path.strip('/').replace('/', '_')}_{method}"
    properties: dict[str, Any] = {}
    required: list[str] = []
    where: dict[str, str] = {}
    body: list[str] = []
    whole = False
    for param in [*shared, *(op.get("parameters") or [])]:
        if not isinstance(param, dict) or "name" not in param:
            continue
        if param.get("in") in ("body", "formData"):  # Swagger 2 bodies
            schema = param.get("schema") or {"type": param.get("type", "string")}
            if param.get("in") == "body" and schema.get("type", "object") != "object":
                properties["body"], whole = schema, True
                continue
            props = schema.get("properties") if param.get("in") == "body" else {param["name"]: schema}
            for key, prop in (props or {}).items():
                properties[key], body = prop, [*body, key]
            required += schema.get("required", []) if param.get("in") == "body" else (
                [param["name"]] if param.get("required") else [])
            continue
        properties[param["name"]] = {**(param.get("schema") or {"type": param.get("type", "string")}),
                                     "description": param.get("description", "")}
        where[param["name"]] = str(param.get("in", "query"))
        if param.get("required") or param.get("in") == "path":
            required.append(param["name"])
    content = ((op.get("requestBody") or {}).get("content") or {})
    media = content.get("application/json") or next(iter(content.values()), None)
    if isinstance(media, dict) and media.get("schema"):
        schema = media["schema"]
        if schema.get("type", "object") == "object" and schema.get("properties"):
            for key, prop in schema["properties"].items():
                properties[key], body = prop, [*body, key]
            required += schema.get("required", [])
        else:
            properties["body"], whole = schema, True
            if (op.get("requestBody") or {}).get("required"):
                required.append("body")
    description = op.get("summary") or op.get("description") or f"{method.upper()} {path}"
    return Operation(name=str(name), method=method.upper(), path=path, description=str(description)[:1024],
                     params=where, body=tuple(body), whole_body=whole,
                     schema={"type": "object", "properties": properties,
                             "required": sorted({r for r in required if isinstance(r, str)})})


def operations(doc: dict[str, Any]) -> list[Operation]:
    found: list[Operation] = []
    for path, item in doc["paths"].items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            if isinstance(item.get(method), dict):
                found.append(_operation(str(path), method, item[method], item.get("parameters") or []))
    names = [op.name for op in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidParam(f"OpenAPI schema has duplicate operation names: {', '.join(duplicates)}")
    return found


def dify_auth(auth: Mapping[str, Any]) -> dict[str, Any]:
    """Auth in this module's shape; Dify's own (`auth_type`, `api_key_header`, `api_key_header_prefix`
    basic | bearer | custom, `api_key_query_param`) is translated, so a provider copied from Dify works."""
    if "auth_type" not in auth:
        return dict(auth)
    if auth["auth_type"] == "none":
        return {"type": "none"}
    if auth["auth_type"] == "api_key_query":
        return {"type": "api_key", "in": "query", "name": auth.get("api_key_query_param") or "key"}
    prefix, header = auth.get("api_key_header_prefix", "custom"), auth.get("api_key_header") or "Authorization"
    if prefix in ("bearer", "basic") and header.lower() == "authorization":
        return {"type": prefix}
    return {"type": "api_key", "in": "header", "name": header}


class OpenApiProvider:
    """A `ToolProvider` over one schema; built once per installation version and workspace."""

    provider_type = "api"

    def __init__(self, provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> None:
        self.provider_id = provider_id
        self._context = context
        doc = load_schema(config.get("schema"))
        self._server = str(config.get("server_url") or _server(doc)).rstrip("/")
        if not re.match(r"^https?://", self._server):
            raise InvalidParam("OpenAPI schema has no absolute http(s) server URL; set `server_url`")
        self._auth = dify_auth(config.get("auth") or {"type": "none"})
        if self._auth.get("type", "none") not in AUTH_TYPES:
            raise InvalidParam(f"auth.type must be one of {', '.join(AUTH_TYPES)}")
        self._operations = {op.name: op for op in operations(doc)}

    def tools(self) -> list[ToolSpec]:
        return [ToolSpec(ToolRef("api", self.provider_id, op.name), op.description, op.schema)
                for op in self._operations.values()]

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        op = self._operations.get(tool_name)
        if op is None:
            raise ToolNotFound(f"API provider {self.provider_id!r} has no operation {tool_name!r}")
        path = op.path
        params: list[tuple[str, str]] = []
        headers: list[tuple[str, str]] = [("Accept", "application/json, */*")]
        for name, where in op.params.items():
            value = arguments.get(name)
            if value is None or value == "":
                if name in op.schema["required"]:
                    raise ToolInvokeError(f"tool {tool_name}: parameter {name!r} is required")
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            if where == "path":
                path = path.replace("{" + name + "}", quote(text, safe=""))
            elif where == "header":
                headers.append((name, text))
            elif where == "query":
                params.append((name, text))
        content = self._body(op, arguments)
        if content is not None:
            headers.append(("Content-Type", "application/json"))
        self._authorize(headers, params, credentials)
        return self._send(op, self._server + path, headers, params, content)

    @staticmethod
    def _body(op: Operation, arguments: dict[str, Any]) -> bytes | None:
        if op.whole_body:
            value = arguments.get("body")
            return None if value is None else (value.encode() if isinstance(value, str) else json.dumps(value).encode())
        fields = {k: arguments[k] for k in op.body if k in arguments and arguments[k] is not None}
        return json.dumps(fields, ensure_ascii=False).encode() if op.body else None

    def _authorize(self, headers: list[tuple[str, str]], params: list[tuple[str, str]],
                   credentials: Mapping[str, str]) -> None:
        kind = self._auth.get("type", "none")
        if kind == "none":
            return
        key = credentials.get("api_key")
        if not key:
            raise ToolCredentialsMissing(f"API provider {self.provider_id!r} needs its `api_key` credential")
        if kind == "bearer":
            headers.append(("Authorization", f"Bearer {key}"))
        elif kind == "basic":
            headers.append(("Authorization", "Basic " + base64.b64encode(key.encode()).decode()))
        elif self._auth.get("in") == "query":
            params.append((str(self._auth.get("name") or "api_key"), key))
        else:
            headers.append((str(self._auth.get("name") or "X-API-Key"), key))

    def _send(self, op: Operation, url: str, headers: list[tuple[str, str]], params: list[tuple[str, str]],
              content: bytes | None) -> ToolResult:
        client, timeout = self._context.http, self._context.timeout_seconds
        if client is None:
            raise ToolInvokeError("no HTTP client is configured for tools")
        try:
            reply = client.request(op.method, url, headers=headers, params=params or None, content=content,
                                   connect=min(10.0, timeout), read=timeout, write=timeout)
        except TrellisError as exc:
            raise ToolInvokeError(f"tool {op.name}: {exc.message}") from exc
        if reply.status_code >= 400:
            snippet = reply.content[:300].decode("utf-8", errors="replace")
            raise ToolInvokeError(f"tool {op.name}: {op.method} {op.path} answered {reply.status_code}: {snippet}")
        if reply.is_file:
            return self._file(op, reply)
        text = reply.content.decode("utf-8", errors="replace")
        try:
            data = json.loads(text)
        except ValueError:
            return ToolResult(text=text)
        return ToolResult(text=text, json=(data if isinstance(data, dict) else {"data": data},))

    def _file(self, op: Operation, reply: Any) -> ToolResult:
        mime = reply.content_type.split(";")[0].strip() or "application/octet-stream"
        files = self._context.files
        if files is None:
            return ToolResult(text=f"{op.name} returned a {mime} file of {len(reply.content)} bytes")
        extension = mime.rsplit("/", 1)[-1].split("+")[0] or "bin"
        return ToolResult(files=(files.save(self._context.workspace_id, f"{op.name}.{extension}", reply.content,
                                            mime),))


def from_config(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> OpenApiProvider:
    """The `api` kind's factory. Raises InvalidParam for a schema or auth it cannot use."""
    return OpenApiProvider(provider_id, config, context)
