"""`http-request`: Dify's HTTP node, sent through the egress-guarded client port (`ctx.services.http`).

Supports every method, `no-auth` and `api-key` auth (basic, bearer, custom header), headers and params as Dify's
`key:value` lines, bodies `none`, `json`, `raw-text`, `x-www-form-urlencoded`, `form-data` (text fields, and file
fields whose `file` selector names a file variable) and `binary` (the bytes of one file variable); file bytes come
from the files port (`ctx.services.files`); `body.data` as a list of `{key, type, value, file}` or as a string
(old exports). `{{#node.var#}}` references are rendered in the URL, headers, params, auth key and body.
Outputs `status_code`, `body` (text; empty for file responses), `headers` and `files`. A non-2xx status fails the
node only when `retry_config` or `error_strategy` is set (as Dify), with a retryable error for 429/5xx.
Must not import `app.providers`.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.ports import FileStore
from app.engine.variables import VariablePool, references
from app.errors import ProviderRequestError, WorkflowError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class HttpReply(Protocol):
    status_code: int
    headers: dict[str, str]
    content: bytes
    content_type: str

    @property
    def is_file(self) -> bool: ...


class HttpClient(Protocol):
    def request(self, method: str, url: str, *, headers: list[tuple[str, str]] | None = None,
                params: list[tuple[str, str]] | None = None, content: bytes | None = None,
                files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None,
                data: dict[str, str] | None = None, connect: float = 10.0, read: float = 60.0, write: float = 20.0,
                follow_redirects: bool = True, verify: bool = True) -> HttpReply:
        """Send one request through the egress guard. Raises WorkflowError (refused, too large) or
        ProviderRequestError (timeouts, connection failures: retryable)."""
        ...


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "bearer"  # basic | bearer | custom
    api_key: str = ""
    header: str = ""


class Authorization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "no-auth"
    config: AuthConfig | None = None


class BodyItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    type: str = "text"
    value: str = ""
    file: list[str] = Field(default_factory=list)  # a file variable's selector, for `type: file`


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "none"
    data: list[BodyItem] | str | None = None


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connect: float | None = None
    read: float | None = None
    write: float | None = None


class HttpData(NodeData):
    method: str = "GET"
    url: str = Field(min_length=1)
    authorization: Authorization = Field(default_factory=Authorization)
    headers: str = ""
    params: str = ""
    body: Body | None = None
    timeout: Timeouts = Field(default_factory=Timeouts)
    ssl_verify: bool = True
    follow_redirects: bool = True

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        return value.upper()


class HttpRequestNode(Node):
    type = "http-request"
    data_model = HttpData
    data: HttpData

    def selectors(self) -> list[list[str]]:
        d = self.data
        texts = [d.url, d.headers, d.params, d.authorization.config.api_key if d.authorization.config else ""]
        if d.body and isinstance(d.body.data, str):
            texts.append(d.body.data)
        files: list[list[str]] = []
        if d.body and isinstance(d.body.data, list):
            texts += [f"{item.key}\n{item.value}" for item in d.body.data]
            files = [item.file for item in d.body.data if item.type == "file" and item.file]
        return [ref for t in texts for ref in references(t)] + files

    def run(self, ctx: NodeContext) -> NodeResult:
        client: HttpClient | None = ctx.services.http
        if client is None:
            raise WorkflowError("outbound HTTP is not configured on this server")
        pool, d = ctx.pool, self.data
        url = pool.render(d.url).strip()
        headers = _lines(pool.render(d.headers)) + self._auth(pool)
        params = _lines(pool.render(d.params))
        content, form, header, parts = _body(d.body, pool, ctx.services.files)
        if header and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", header))
        reply = client.request(d.method, url, headers=headers, params=params or None, content=content, data=form,
                               files=parts, connect=d.timeout.connect or 10.0, read=d.timeout.read or 60.0,
                               write=d.timeout.write or 20.0, follow_redirects=d.follow_redirects,
                               verify=d.ssl_verify)
        self._check_status(reply.status_code)
        files: list[dict[str, Any]] = []
        body = "" if reply.is_file else reply.content.decode(_charset(reply.content_type), errors="replace")
        if reply.is_file:
            files.append({"mime_type": reply.content_type.split(";")[0], "size": len(reply.content),
                          "transfer_method": "tool_file"})
        return NodeResult(inputs={}, process_data={"request": f"{d.method} {url}",
                                                   "request_headers": [k for k, _ in headers]},
                          outputs={"status_code": reply.status_code, "body": body, "headers": reply.headers,
                                   "files": files})

    def _auth(self, pool: VariablePool) -> list[tuple[str, str]]:
        auth = self.data.authorization
        if auth.type != "api-key" or auth.config is None:
            return []
        key = pool.render(auth.config.api_key)
        if auth.config.type == "basic":
            # Dify sends the configured value base64-encoded; a `user:password` value is the usual content.
            return [("Authorization", "Basic " + base64.b64encode(key.encode()).decode())]
        if auth.config.type == "custom":
            return [(auth.config.header or "Authorization", key)]
        return [("Authorization", f"Bearer {key}")]

    def _check_status(self, status: int) -> None:
        if 200 <= status < 400:
            return
        if not (self.data.retry_config.retry_enabled or self.data.error_strategy):
            return  # Dify hands the status to the next node
        if status == 429 or status >= 500:
            raise ProviderRequestError(f"HTTP request failed with status code {status}")
        raise WorkflowError(f"HTTP request failed with status code {status}")


def _lines(text: str) -> list[tuple[str, str]]:
    """Dify's `key:value` lines; blank lines skipped, a line without a colon is a key with an empty value."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(":")
        pairs.append((key.strip(), value.strip()))
    return pairs


Parts = list[tuple[str, tuple[str | None, bytes, str | None]]]


def _files(item: BodyItem, pool: VariablePool, store: FileStore | None) -> list[tuple[str | None, bytes, str]]:
    """(filename, bytes, mime type) of each file the item's `file` selector holds."""
    value = pool.get(item.file) if item.file else None
    found = value if isinstance(value, list) else [value] if value is not None else []
    if not all(isinstance(f, dict) for f in found):
        raise WorkflowError(f"HTTP body field {item.key or 'binary'}: {'.'.join(item.file)} is not a file")
    if found and store is None:
        raise WorkflowError("no file store is configured to read files for the HTTP body")
    out = []
    for file in found:
        assert store is not None
        described = file if file.get("filename") else store.describe(file)
        out.append((described.get("filename") or None, store.read(described),
                    str(described.get("mime_type") or "application/octet-stream")))
    return out


def _body(body: Body | None, pool: VariablePool, store: FileStore | None
          ) -> tuple[bytes | None, dict[str, str] | None, str | None, Parts | None]:
    """(raw content, form fields, default content type, multipart parts) for the node's body."""
    if body is None or body.type == "none":
        return None, None, None, None
    items = body.data if isinstance(body.data, list) else None
    raw = body.data if isinstance(body.data, str) else (items[0].value if items else "")
    if body.type in ("json", "raw-text"):
        text = pool.render(raw or "")
        if body.type == "json":
            if text.strip():
                try:
                    json.loads(text, strict=False)
                except ValueError as exc:
                    raise WorkflowError(f"the JSON body is not valid JSON after templating: {exc}") from exc
            return text.encode(), None, "application/json", None
        return text.encode(), None, "text/plain", None
    if body.type in ("x-www-form-urlencoded", "form-data"):
        fields = items if items is not None else [BodyItem(key=k, value=v) for k, v in _lines(raw or "")]
        if body.type == "x-www-form-urlencoded":
            if any(i.type == "file" for i in fields):
                raise WorkflowError("file fields need a form-data body, not x-www-form-urlencoded")
            return None, {pool.render(i.key): pool.render(i.value) for i in fields if i.key}, None, None
        return None, None, None, _multipart(fields, pool, store)
    if body.type == "binary":
        source = next((i for i in items or [] if i.file), None)
        files = _files(source, pool, store) if source else []
        if len(files) != 1:
            raise WorkflowError("a binary HTTP body needs exactly one file variable")
        return files[0][1], None, files[0][2], None
    raise WorkflowError(f"unknown HTTP body type {body.type!r}")


def _multipart(fields: list[BodyItem], pool: VariablePool, store: FileStore | None) -> Parts:
    """Text fields as parts without a filename, file fields with theirs."""
    parts: Parts = []
    for item in (i for i in fields if i.key):
        if item.type == "file":
            parts += [(pool.render(item.key), f) for f in _files(item, pool, store)]
        else:
            parts.append((pool.render(item.key), (None, pool.render(item.value).encode(), None)))
    return parts


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    return "utf-8"
