"""`POST /v1/files/upload` (Dify's Service API, `app-` keys): one multipart `file` plus `user`, stored in the
object store; 201 with Dify's file object. Limits: UPLOAD_MAX_BYTES, documents, images, audio and video."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api import container
from app.api.auth import app_principal
from app.errors import NoFileUploaded, TooManyFiles

files = Blueprint("files", __name__)


@files.post("/files/upload")
def upload() -> tuple[Response, int]:
    who = app_principal()
    uploads = request.files.getlist("file")
    if not uploads:
        raise NoFileUploaded()
    if len(uploads) > 1 or len(request.files) > 1:
        raise TooManyFiles()
    upload_file = uploads[0]
    stored = container().knowledge.files.upload(who.workspace_id, upload_file.filename or "", upload_file.read(),
                                                upload_file.mimetype, request.form.get("user"))
    return jsonify(stored.to_dict()), 201
