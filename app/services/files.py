"""Uploaded files: size and type checks, the bytes into the object store, a row in `upload_files`.

Keys are `upload_files/<workspace>/<file id>.<ext>`; the row is written after the object, so a crash between
the two leaves at worst an unreferenced object, never a row without bytes."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import FileTooLarge, NoFileUploaded, NotFound, UnsupportedFileType
from app.models import UploadFile
from app.models.base import new_id
from app.providers.objects import ObjectStore
from app.rag.parsing import DOCUMENT_EXTENSIONS
from app.services.run_views import ts

MEDIA_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "gif", "svg", "mp3", "m4a", "wav", "webm", "amr",
                              "mp4", "mov", "mpeg", "mpga", "pptx", "xlsx", "xls", "json", "xml", "eml", "epub"})


@dataclass(frozen=True)
class StoredFile:
    id: str
    name: str
    size: int
    extension: str
    mime_type: str
    key: str
    created_by: str | None
    created_at: Any

    def to_dict(self) -> dict[str, Any]:
        """Dify's upload response."""
        return {"id": self.id, "name": self.name, "size": self.size, "extension": self.extension,
                "mime_type": self.mime_type, "created_by": self.created_by, "created_at": ts(self.created_at)}


def _view(row: UploadFile) -> StoredFile:
    return StoredFile(row.id, row.name, row.size, row.extension, row.mime_type, row.key, row.created_by,
                      row.created_at)


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


class Files:
    def __init__(self, sessions: sessionmaker[Session], objects: ObjectStore, max_bytes: int) -> None:
        self._sessions = sessions
        self._objects = objects
        self._max = max_bytes

    def upload(self, workspace_id: str, name: str, data: bytes, mime_type: str | None, user: str | None,
               documents_only: bool = False) -> StoredFile:
        """Check and store a file. Raises NoFileUploaded (empty name), FileTooLarge, UnsupportedFileType."""
        if not name:
            raise NoFileUploaded()
        if len(data) > self._max:
            raise FileTooLarge(f"File size exceeded. {len(data)} > {self._max} bytes")
        ext = extension_of(name)
        allowed = DOCUMENT_EXTENSIONS if documents_only else DOCUMENT_EXTENSIONS | MEDIA_EXTENSIONS
        if ext not in allowed:
            raise UnsupportedFileType(f"File type .{ext or '?'} not allowed.")
        file_id = new_id()
        key = f"upload_files/{workspace_id}/{file_id}.{ext}"
        mime = mime_type if mime_type and mime_type != "application/octet-stream" else (
            mimetypes.guess_type(name)[0] or "application/octet-stream")
        self._objects.put(key, data, mime)
        row = UploadFile(id=file_id, workspace_id=workspace_id, name=name[:255], size=len(data), extension=ext,
                         mime_type=mime, key=key, hash=hashlib.sha256(data).hexdigest(), created_by=user)
        with transaction(self._sessions) as session:
            session.add(row)
        return _view(row)

    def get(self, workspace_id: str, file_id: str) -> StoredFile:
        with self._sessions() as session:
            row = session.get(UploadFile, file_id)
            if row is None or row.workspace_id != workspace_id:
                raise NotFound("File not found")
            return _view(row)

    def read(self, stored: StoredFile) -> bytes:
        return self._objects.get(stored.key)
