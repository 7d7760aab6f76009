"""The file store a run's nodes read through (`NodeServices.files`): Dify file references from a request's
inputs or `files` (an upload from `/v1/files/upload`, or a remote URL) described as Dify file objects and read
from the object store or, for remote URLs, through the egress guard. One instance per worker; `scoped` gives the
per-run view bound to the run's workspace, so a run can only read its own workspace's uploads."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import unquote, urlsplit

from app.errors import NotFound, WorkflowError
from app.providers.egress import EgressClient
from app.services.files import Files, extension_of

FILE_IDENTITY = "__dify__file__"
KINDS = {
    "image": frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"}),
    "document": frozenset({"txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv",
                           "eml", "msg", "pptx", "ppt", "xml", "epub", "json", "yaml", "yml"}),
    "audio": frozenset({"mp3", "m4a", "wav", "amr", "mpga"}),
    "video": frozenset({"mp4", "mov", "mpeg", "webm"}),
}


def kind_of(extension: str) -> str:
    return next((kind for kind, extensions in KINDS.items() if extension in extensions), "custom")


def is_file_reference(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("dify_model_identity") == FILE_IDENTITY
                                        or "transfer_method" in value or "upload_file_id" in value)


class RunFileStore:
    """Implements the engine's FileStore port."""

    def __init__(self, files: Files, http: EgressClient | None, workspace_id: str = "") -> None:
        self._files = files
        self._http = http
        self._workspace_id = workspace_id

    def scoped(self, workspace_id: str) -> RunFileStore:
        return RunFileStore(self._files, self._http, workspace_id)

    @staticmethod
    def _upload_id(file: dict[str, Any]) -> str:
        return str(file.get("upload_file_id") or file.get("related_id") or "")

    def _stored(self, file_id: str) -> Any:
        try:
            return self._files.get(self._workspace_id, file_id)
        except NotFound as exc:
            raise WorkflowError(f"uploaded file {file_id} not found") from exc

    def describe(self, file: dict[str, Any]) -> dict[str, Any]:
        if file.get("dify_model_identity") == FILE_IDENTITY and file.get("filename"):
            return dict(file)
        url = str(file.get("url") or file.get("remote_url") or "")
        upload_id = self._upload_id(file)
        if upload_id:
            stored = self._stored(upload_id)
            name, size, mime = stored.name, stored.size, stored.mime_type
            method, related, remote = "local_file", upload_id, None
        elif url:
            name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            size, method, related, remote = -1, "remote_url", None, url
        else:
            raise WorkflowError("a file input needs an upload_file_id (local_file) or a url (remote_url)")
        extension = extension_of(name)
        return {"dify_model_identity": FILE_IDENTITY, "id": related, "type": file.get("type") or kind_of(extension),
                "transfer_method": method, "remote_url": remote, "related_id": related, "filename": name,
                "extension": f".{extension}" if extension else "", "mime_type": mime, "size": size, "url": remote}

    def read(self, file: dict[str, Any]) -> bytes:
        upload_id = self._upload_id(file)
        if upload_id and file.get("transfer_method") != "remote_url":
            return self._files.read(self._stored(upload_id))
        url = str(file.get("remote_url") or file.get("url") or "")
        if not url:
            raise WorkflowError("the file has neither an upload id nor a URL")
        if self._http is None:
            raise WorkflowError("remote files cannot be fetched: no egress client is configured")
        reply = self._http.request("GET", url, connect=10.0, read=30.0)
        if reply.status_code >= 400:
            raise WorkflowError(f"fetching the remote file {url} failed with HTTP {reply.status_code}")
        return reply.content
