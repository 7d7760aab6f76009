"""Tool management (`/manage/v1`, admin token): list tool providers and tools with their schemas, install,
update and remove OpenAPI (and the other installed kinds of) providers, set and clear credentials.

Credential values are accepted and never returned: responses name only the credentials that are set."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import container
from app.api.auth import admin_principal
from app.errors import InvalidParam, PayloadTooLarge

PACKAGE_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")
CHUNK = 64 * 1024

manage_tools = Blueprint("manage_tools", __name__)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidParam("the body must be a JSON object")
    return body


@manage_tools.get("/tool-providers")
def list_providers() -> Response:
    return jsonify(container().tool_admin.providers(admin_principal().workspace_id))


@manage_tools.post("/tool-providers")
def install_provider() -> tuple[Response, int]:
    """`{"provider_type": "api", "name", "provider_id"?, "config": {"schema", "auth", "server_url"?},
    "credentials"?: {"api_key"}}`; `provider_id` lets a DSL's tool nodes find it (defaults to a new id)."""
    who = admin_principal()
    return jsonify(container().tool_admin.install(who.workspace_id, _body())), 201


@manage_tools.post("/tool-providers/plugins")
def install_plugin() -> tuple[Response, int]:
    """The body is a plugin package (a `.difypkg` zip). `?name=` names the installed providers (default: their
    ids). Answers 201 with every tool provider the package declares."""
    who = admin_principal()
    mimetype = request.mimetype or ""
    if mimetype not in PACKAGE_TYPES:
        raise InvalidParam("send the .difypkg file as the body with Content-Type application/zip or "
                           "application/octet-stream", params="Content-Type")
    name = request.args.get("name") or None
    if name is not None and (not name.strip() or len(name) > 255):
        raise InvalidParam("name must be a non-empty string of at most 255 characters", params="name")
    limit = container().settings.plugin_max_package_bytes
    with tempfile.TemporaryDirectory(prefix="trellis-plugin-") as folder:
        package = Path(folder) / "upload.difypkg"
        _save_body(package, limit)
        installed = container().tool_admin.install_plugin(who.workspace_id, package, name and name.strip())
    return jsonify({"data": installed}), 201


def _save_body(target: Path, limit: int) -> None:
    """Copy the request body to `target` in chunks, refusing it past `limit` bytes (declared or actual)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a plugin package may be at most {limit} bytes")
    size = 0
    with target.open("wb") as handle:
        while chunk := request.stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"a plugin package may be at most {limit} bytes")
            handle.write(chunk)
    if size == 0:
        raise InvalidParam("the body is empty: send the .difypkg file as the body")


@manage_tools.patch("/tool-providers/<record_id>")
@manage_tools.put("/tool-providers/<record_id>")
def update_provider(record_id: str) -> Response:
    return jsonify(container().tool_admin.update(admin_principal().workspace_id, record_id, _body()))


@manage_tools.delete("/tool-providers/<record_id>")
def delete_provider(record_id: str) -> tuple[str, int]:
    container().tool_admin.delete(admin_principal().workspace_id, record_id)
    return "", 204


@manage_tools.put("/tool-providers/<provider_type>/<path:provider_id>/credentials")
def put_credentials(provider_type: str, provider_id: str) -> Response:
    """`{"credentials": {"api_key": "..."}}` (or the object itself) replaces the provider's credentials."""
    body = _body()
    values = body.get("credentials", body) if isinstance(body.get("credentials"), dict) else body
    names = container().tool_admin.set_credentials(admin_principal().workspace_id, provider_type, provider_id,
                                                   values)
    return jsonify({"provider_type": provider_type, "provider_id": provider_id, "credentials_set": names})


@manage_tools.delete("/tool-providers/<provider_type>/<path:provider_id>/credentials")
def delete_credentials(provider_type: str, provider_id: str) -> tuple[str, int]:
    container().tool_admin.delete_credentials(admin_principal().workspace_id, provider_type, provider_id)
    return "", 204


@manage_tools.get("/tools")
def list_tools() -> Response:
    return jsonify({"data": container().tool_admin.tools(admin_principal().workspace_id)})
