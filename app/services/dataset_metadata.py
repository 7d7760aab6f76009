"""Document metadata of a dataset, as Dify's Knowledge API defines it: custom fields (a name and a type:
string, number or time), the built-in fields switch, and the values documents hold for the fields.

Values are kept as text and typed on the way out (numbers and times as numbers). Setting a document's metadata
replaces all of its custom values with the list given. Every read is scoped by workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam, NotFound
from app.models import Dataset, DatasetMetadataField, DatasetMetadataSettings, Document, DocumentMetadataValue
from app.services.dataset_scope import owned_dataset
from app.services.run_views import ts

TYPES = ("string", "number", "time")
BUILT_IN = (("document_name", "string"), ("uploader", "string"), ("upload_date", "time"),
            ("last_update_date", "time"), ("source", "string"))
BUILT_IN_ID = "built-in"


@dataclass(frozen=True)
class MetadataValue:
    """One entry of a document's `metadata_list`: the field id and its new value (None clears it)."""

    id: str
    value: Any = None


def typed(kind: str, value: str | None) -> Any:
    if value is None or kind == "string":
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def values_of(session: Session, documents: list[Document]) -> dict[str, list[dict[str, Any]]]:
    """document id -> its `doc_metadata` ({id, name, type, value}); built-in values first when the dataset
    has them switched on."""
    ids = [d.id for d in documents]
    found: dict[str, list[dict[str, Any]]] = {d: [] for d in ids}
    if not ids:
        return found
    enabled = set(session.scalars(select(DatasetMetadataSettings.dataset_id).where(
        DatasetMetadataSettings.dataset_id.in_({d.dataset_id for d in documents}),
        DatasetMetadataSettings.built_in_field_enabled.is_(True))))
    for doc in documents:
        if doc.dataset_id in enabled:
            values = {"document_name": doc.name, "uploader": doc.workspace_id, "upload_date": ts(doc.created_at),
                      "last_update_date": ts(doc.updated_at), "source": doc.data_source_type}
            found[doc.id] = [{"id": BUILT_IN_ID, "name": name, "type": kind, "value": values[name]}
                             for name, kind in BUILT_IN]
    rows = session.execute(select(DocumentMetadataValue.document_id, DatasetMetadataField, DocumentMetadataValue.value)
                           .join(DatasetMetadataField, DatasetMetadataField.id == DocumentMetadataValue.field_id)
                           .where(DocumentMetadataValue.document_id.in_(ids))
                           .order_by(DatasetMetadataField.name)).all()
    for document_id, field, value in rows:
        found[document_id].append({"id": field.id, "name": field.name, "type": field.type,
                                   "value": typed(field.type, value)})
    return found


def fields_of(session: Session, dataset_id: str) -> dict[str, Any]:
    """The dataset view's `doc_metadata` (its fields) and `built_in_field_enabled`."""
    fields = session.scalars(select(DatasetMetadataField).where(DatasetMetadataField.dataset_id == dataset_id)
                             .order_by(DatasetMetadataField.created_at, DatasetMetadataField.name)).all()
    settings = session.get(DatasetMetadataSettings, dataset_id)
    return {"doc_metadata": [{"id": f.id, "name": f.name, "type": f.type} for f in fields],
            "built_in_field_enabled": bool(settings and settings.built_in_field_enabled)}


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 255:
        raise InvalidParam("name must be 1 to 255 characters", params="name")
    if name in dict(BUILT_IN):
        raise InvalidParam(f"{name} is a built-in metadata field", params="name")
    return name


class DatasetMetadata:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @staticmethod
    def _dataset(session: Session, workspace_id: str, dataset_id: str) -> Dataset:
        return owned_dataset(session, workspace_id, dataset_id)

    def _field(self, session: Session, workspace_id: str, dataset_id: str, field_id: str) -> DatasetMetadataField:
        self._dataset(session, workspace_id, dataset_id)
        row = session.get(DatasetMetadataField, field_id)
        if row is None or row.dataset_id != dataset_id:
            raise NotFound("Metadata not found.")
        return row

    def list(self, workspace_id: str, dataset_id: str) -> dict[str, Any]:
        """`{"doc_metadata": [{id, name, type, count}], "built_in_field_enabled"}`; count = documents with a
        value for the field."""
        with self._sessions() as session:
            self._dataset(session, workspace_id, dataset_id)
            counts = dict(session.execute(select(DocumentMetadataValue.field_id, func.count(DocumentMetadataValue.id))
                                          .join(DatasetMetadataField,
                                                DatasetMetadataField.id == DocumentMetadataValue.field_id)
                                          .where(DatasetMetadataField.dataset_id == dataset_id)
                                          .group_by(DocumentMetadataValue.field_id)).all())
            fields = session.scalars(select(DatasetMetadataField).where(DatasetMetadataField.dataset_id == dataset_id)
                                     .order_by(DatasetMetadataField.created_at, DatasetMetadataField.name)).all()
            settings = session.get(DatasetMetadataSettings, dataset_id)
            return {"doc_metadata": [{"id": f.id, "name": f.name, "type": f.type, "count": int(counts.get(f.id, 0))}
                                     for f in fields],
                    "built_in_field_enabled": bool(settings and settings.built_in_field_enabled)}

    def create(self, workspace_id: str, dataset_id: str, kind: str, name: str) -> dict[str, Any]:
        """A new field. InvalidParam for an unknown type, a built-in name or a name the dataset has."""
        if kind not in TYPES:
            raise InvalidParam(f"type must be one of {', '.join(TYPES)}", params="type")
        try:
            with transaction(self._sessions) as session:
                self._dataset(session, workspace_id, dataset_id)
                row = DatasetMetadataField(dataset_id=dataset_id, name=_name(name), type=kind)
                session.add(row)
                session.flush()
                return {"id": row.id, "type": row.type, "name": row.name}
        except IntegrityError as exc:
            raise InvalidParam("Metadata name already exists", params="name") from exc

    def rename(self, workspace_id: str, dataset_id: str, field_id: str, name: str) -> dict[str, Any]:
        try:
            with transaction(self._sessions) as session:
                row = self._field(session, workspace_id, dataset_id, field_id)
                row.name = _name(name)
                session.flush()
                return {"id": row.id, "type": row.type, "name": row.name}
        except IntegrityError as exc:
            raise InvalidParam("Metadata name already exists", params="name") from exc

    def delete(self, workspace_id: str, dataset_id: str, field_id: str) -> None:
        """Delete the field and every document's value for it."""
        with transaction(self._sessions) as session:
            row = self._field(session, workspace_id, dataset_id, field_id)
            session.execute(delete(DocumentMetadataValue).where(DocumentMetadataValue.field_id == row.id))
            session.delete(row)

    def set_built_in(self, workspace_id: str, dataset_id: str, action: str) -> None:
        if action not in ("enable", "disable"):
            raise InvalidParam("action must be enable or disable", params="action")
        with transaction(self._sessions) as session:
            self._dataset(session, workspace_id, dataset_id)
            settings = session.get(DatasetMetadataSettings, dataset_id)
            if settings is None:
                settings = DatasetMetadataSettings(dataset_id=dataset_id)
                session.add(settings)
            settings.built_in_field_enabled = action == "enable"

    def set_document_values(self, workspace_id: str, dataset_id: str,
                            operations: list[tuple[str, list[MetadataValue]]]) -> None:
        """For each (document id, values): replace the document's custom values with these. All or nothing;
        NotFound for a document or field outside the dataset. Built-in entries are ignored (they are derived)."""
        with transaction(self._sessions) as session:
            self._dataset(session, workspace_id, dataset_id)
            fields = {f.id: f for f in session.scalars(select(DatasetMetadataField)
                                                       .where(DatasetMetadataField.dataset_id == dataset_id))}
            for document_id, values in operations:
                doc = session.get(Document, document_id)
                if doc is None or doc.dataset_id != dataset_id:
                    raise NotFound("Document not found.")
                session.execute(delete(DocumentMetadataValue).where(DocumentMetadataValue.document_id == document_id))
                for item in {v.id: v for v in values if v.id != BUILT_IN_ID}.values():
                    if item.id not in fields:
                        raise NotFound("Metadata not found.")
                    session.add(DocumentMetadataValue(document_id=document_id, field_id=item.id,
                                                      value=None if item.value is None else str(item.value)))

    @staticmethod
    def built_in_fields() -> dict[str, Any]:
        return {"fields": [{"name": name, "type": kind} for name, kind in BUILT_IN]}
