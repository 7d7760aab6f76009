"""Management of knowledge-base keys (`/manage/v1/datasets/api-keys`, admin token): create and revoke `ds-`
keys for the admin's workspace. The token is shown once."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api import container
from app.api.auth import admin_principal

manage_datasets = Blueprint("manage_datasets", __name__)


@manage_datasets.post("/datasets/api-keys")
def create_dataset_key() -> tuple[Response, int]:
    key_id, token = container().knowledge.datasets.create_key(admin_principal().workspace_id)
    return jsonify({"id": key_id, "token": token, "type": "dataset"}), 201


@manage_datasets.delete("/datasets/api-keys/<key_id>")
def revoke_dataset_key(key_id: str) -> tuple[str, int]:
    container().knowledge.datasets.revoke_key(admin_principal().workspace_id, key_id)
    return "", 204
