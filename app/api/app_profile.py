"""`GET /v1/site` and `GET /v1/meta` of the Service API (`app-` keys): the app's web-app settings and the
icons of the tools it uses, in Dify's shapes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api import container
from app.api.auth import app_principal

app_profile = Blueprint("app_profile", __name__)


@app_profile.get("/site")
def site() -> Response:
    who = app_principal()
    return jsonify(container().profiles.site(who.workspace_id, who.app_id))


@app_profile.get("/meta")
def meta() -> Response:
    who = app_principal()
    return jsonify(container().profiles.meta(who.workspace_id, who.app_id))
