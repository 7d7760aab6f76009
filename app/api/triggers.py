"""Trigger endpoints. `/triggers/webhook/<id>` (Dify's path): a webhook call starts a run of the app whose
`trigger-webhook` node owns that id; the id is the credential, so no key is asked. The request's query, headers
and body (JSON, form or text) are mapped to the node's declared variables; the answer is the node's configured
status code and body, plus the run's ids. `/manage/v1/apps/<id>/triggers` lists an app's webhooks and
schedules (admin token)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import container
from app.api.auth import admin_principal

webhooks = Blueprint("webhooks", __name__)
app_triggers = Blueprint("app_triggers", __name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def _body() -> Any:
    if request.mimetype == "application/json":
        return request.get_json(silent=True)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.to_dict()
    return request.get_data(as_text=True)


@webhooks.route("/triggers/webhook/<webhook_id>", methods=METHODS)
def call_webhook(webhook_id: str) -> tuple[Response, int]:
    ticket, status, text = container().triggers.fire_webhook(
        webhook_id, request.method, request.args.to_dict(), dict(request.headers.items()), _body())
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        body = {"message": text}
    if not isinstance(body, dict):
        body = {"data": body}
    return jsonify({**body, "workflow_run_id": ticket.run_id, "task_id": ticket.task_id}), status


@app_triggers.get("/apps/<app_id>/triggers")
def list_triggers(app_id: str) -> Response:
    who = admin_principal()
    container().apps.get(who.workspace_id, app_id)  # 404 unless the app is this workspace's
    return jsonify({"data": [t.to_dict() for t in container().triggers.list(who.workspace_id, app_id)]})
