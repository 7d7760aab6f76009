"""The management API (`/manage/v1`, `Authorization: Bearer <admin token>`): apps, versions, keys; and, for
the deployment operator only, workspaces."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import container
from app.api.auth import admin_principal, operator_principal
from app.errors import InvalidParam, PayloadTooLarge
from app.services.apps import AppView
from app.services.runs import parse_page

manage = Blueprint("manage", __name__)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _dsl_body() -> str:
    """The DSL from the body: raw YAML (any YAML content type) or JSON `{"data": "<yaml>"}` as Dify's import."""
    limit = container().settings.max_dsl_bytes
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(f"DSL exceeds the limit of {limit} bytes")
    if request.mimetype == "application/json":
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("data") or payload.get("yaml_content"), str):
            raise InvalidParam("JSON body must be {\"data\": \"<DSL YAML>\"}")
        return str(payload.get("data") or payload.get("yaml_content"))
    if request.mimetype and request.mimetype not in YAML_TYPES:
        raise InvalidParam(f"Content-Type must be application/yaml, got {request.mimetype}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParam("DSL must be UTF-8 text") from exc


def _dataset_map() -> dict[str, str]:
    """Old -> new dataset ids for an import: `?dataset_map=old:new` (repeatable) or, with a JSON body,
    `{"dataset_id_map": {...}}`."""
    mapping: dict[str, str] = {}
    for pair in request.args.getlist("dataset_map"):
        old, sep, new = pair.partition(":")
        if not sep or not old or not new:
            raise InvalidParam("dataset_map must be old_id:new_id", params="dataset_map")
        mapping[old] = new
    if request.mimetype == "application/json":
        given = (request.get_json(silent=True) or {}).get("dataset_id_map") or {}
        if not isinstance(given, dict):
            raise InvalidParam("dataset_id_map must be an object of old id -> new id", params="dataset_id_map")
        mapping.update({str(k): str(v) for k, v in given.items()})
    return mapping


@manage.post("/apps")
def import_app() -> tuple[Response, int]:
    who = admin_principal()
    app = container().apps.import_dsl(who.workspace_id, _dsl_body(), dataset_map=_dataset_map())
    return jsonify(_with_reports({"id": app.id, "name": app.name, "mode": app.mode}, app)), 201


def _with_reports(body: dict[str, Any], app: AppView) -> dict[str, Any]:
    """What an import noticed: `warnings` (dropped datasets, unsupported node types) and `missing_tools` (to
    install with POST /manage/v1/tool-providers, or give credentials, before a run reaches them)."""
    if app.warnings:
        body["warnings"] = list(app.warnings)
    if app.missing_tools:
        body["missing_tools"] = list(app.missing_tools)
    return body


@manage.get("/apps")
def list_apps() -> Response:
    who = admin_principal()
    page, limit = parse_page(request.args)
    apps, total = container().apps.list(who.workspace_id, page, limit)
    return jsonify({"page": page, "limit": limit, "total": total, "has_more": page * limit < total,
                    "data": [a.to_dict() for a in apps]})


@manage.get("/apps/<app_id>")
def get_app(app_id: str) -> Response:
    return jsonify(container().apps.get(admin_principal().workspace_id, app_id).to_dict())


@manage.put("/apps/<app_id>")
def update_app(app_id: str) -> Response:
    """Publish a new version of the app from DSL."""
    who = admin_principal()
    app = container().apps.import_dsl(who.workspace_id, _dsl_body(), app_id=app_id)
    return jsonify(_with_reports(app.to_dict(), app))


@manage.delete("/apps/<app_id>")
def delete_app(app_id: str) -> tuple[str, int]:
    container().apps.delete(admin_principal().workspace_id, app_id)
    return "", 204


@manage.get("/apps/<app_id>/versions")
def list_versions(app_id: str) -> Response:
    return jsonify({"data": container().apps.versions(admin_principal().workspace_id, app_id)})


@manage.get("/apps/<app_id>/dsl")
def export_dsl(app_id: str) -> Response:
    text = container().apps.export_dsl(admin_principal().workspace_id, app_id)
    return Response(text, mimetype="application/yaml")


@manage.post("/apps/<app_id>/api-keys")
def create_key(app_id: str) -> tuple[Response, int]:
    key_id, token = container().accounts.create_app_key(admin_principal().workspace_id, app_id)
    return jsonify({"id": key_id, "token": token, "type": "app"}), 201


@manage.get("/apps/<app_id>/api-keys")
def list_keys(app_id: str) -> Response:
    keys = container().accounts.list_app_keys(admin_principal().workspace_id, app_id)
    return jsonify({"data": [{"id": k.id, "token": k.prefix, "type": "app",
                              "created_at": int(k.created_at.timestamp()) if k.created_at else None,
                              "last_used_at": int(k.last_used_at.timestamp()) if k.last_used_at else None}
                             for k in keys]})


@manage.delete("/apps/<app_id>/api-keys/<key_id>")
def revoke_key(app_id: str, key_id: str) -> tuple[str, int]:
    container().accounts.revoke_app_key(admin_principal().workspace_id, app_id, key_id)
    return "", 204


@manage.post("/workspaces")
def create_workspace() -> tuple[Response, int]:
    """Operator only. Body `{"name": "..."}`; `201 {"id", "name", "admin_token": {"id", "token"}}`, the token
    shown once."""
    operator_principal()
    body = request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidParam("name must be a non-empty string of at most 255 characters", params="name")
    workspace_id, token_id, token = container().accounts.create_workspace(name.strip())
    return jsonify({"id": workspace_id, "name": name.strip(), "admin_token": {"id": token_id, "token": token}}), 201
