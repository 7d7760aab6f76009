"""The files port of tools (`app.tools.provider.ToolFiles`): files a tool is given are read from the upload
store (uploads and earlier tool files, by id, within the workspace) or fetched through the egress guard (remote
URLs); files a tool makes are stored as uploads and handed back in Dify's file shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.errors import ToolInvokeError, TrellisError
from app.services.files import Files, StoredFile

KINDS = {"image": ("png", "jpg", "jpeg", "gif", "webp", "svg"), "audio": ("mp3", "m4a", "wav", "webm", "amr"),
         "video": ("mp4", "mov", "mpeg"), "document": ("txt", "md", "markdown", "html", "pdf", "docx", "csv", "xlsx",
                                                       "pptx", "json", "xml")}


def file_type(extension: str) -> str:
    return next((kind for kind, exts in KINDS.items() if extension in exts), "custom")


def dify_file(workspace_id: str, stored: StoredFile, transfer_method: str = "tool_file") -> dict[str, Any]:
    """A stored file in Dify's file shape."""
    return {"dify_model_identity": "__dify__file__", "id": None, "tenant_id": workspace_id,
            "type": file_type(stored.extension), "transfer_method": transfer_method, "remote_url": None,
            "related_id": stored.id, "filename": stored.name, "extension": f".{stored.extension}",
            "mime_type": stored.mime_type, "size": stored.size, "url": None}


class ToolFileStore:
    def __init__(self, files: Callable[[], Files], http: Any = None, timeout_seconds: float = 30.0) -> None:
        # A factory: the upload store is built on first use, so a process that never runs a file tool
        # never builds the knowledge-base stack behind it.
        self._files_factory = files
        self._http = http
        self._timeout = timeout_seconds

    @property
    def _files(self) -> Files:
        return self._files_factory()

    def read(self, workspace_id: str, file: Mapping[str, Any]) -> bytes:
        file_id = file.get("related_id") or file.get("upload_file_id") or (
            file.get("id") if file.get("transfer_method") in ("local_file", "tool_file") else None)
        try:
            if file_id:
                return self._files.read(self._files.get(workspace_id, str(file_id)))
            url = file.get("remote_url") or file.get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://")) and self._http is not None:
                reply = self._http.request("GET", url, read=self._timeout)
                if reply.status_code >= 400:
                    raise ToolInvokeError(f"file {url} answered {reply.status_code}")
                return bytes(reply.content)
        except ToolInvokeError:
            raise
        except TrellisError as exc:
            raise ToolInvokeError(f"the file cannot be read: {exc.message}") from exc
        raise ToolInvokeError("the value given as a file is neither an uploaded file nor a URL")

    def save(self, workspace_id: str, filename: str, data: bytes, mime_type: str) -> dict[str, Any]:
        try:
            stored = self._files.upload(workspace_id, filename, data, mime_type, user=None)
        except TrellisError as exc:
            raise ToolInvokeError(f"the tool's file {filename!r} cannot be stored: {exc.message}") from exc
        return dify_file(workspace_id, stored)
