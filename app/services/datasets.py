"""Datasets (knowledge bases) and their `ds-` API keys: create, list, get, update, delete; every read is scoped
by workspace. A dataset key reaches every dataset of its workspace and nothing else (it is `api_keys` row with
kind="dataset"; app keys are rejected here and dataset keys by the app authenticator)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import DatasetNameDuplicate, InvalidParam, NotFound, Unauthorized
from app.models import ApiKey, Dataset, Document, DocumentSegment, TagBinding
from app.models.base import as_utc, utcnow
from app.services import dataset_views, tokens
from app.services.dataset_metadata import fields_of
from app.services.dataset_scope import owned_dataset
from app.services.dataset_tags import tags_of


@dataclass(frozen=True)
class DatasetPrincipal:
    workspace_id: str
    key_id: str


INDEXING_TECHNIQUES = ("high_quality", "economy")


class Datasets:
    def __init__(self, sessions: sessionmaker[Session], default_embedding: tuple[str, str],
                 drop_vectors: Callable[[str], None]) -> None:
        self._sessions = sessions
        self._default_embedding = default_embedding
        self._drop_vectors = drop_vectors

    # -- keys -------------------------------------------------------------------------------------------------
    def create_key(self, workspace_id: str) -> tuple[str, str]:
        """A new `ds-` key for the workspace's datasets; returns (key id, token), shown once."""
        token = tokens.generate("ds-")
        with transaction(self._sessions) as session:
            key = ApiKey(workspace_id=workspace_id, app_id=None, kind="dataset", token_hash=tokens.digest(token),
                         prefix=tokens.display_prefix(token))
            session.add(key)
            session.flush()
            return key.id, token

    def revoke_key(self, workspace_id: str, key_id: str) -> None:
        with transaction(self._sessions) as session:
            result = session.execute(update(ApiKey).where(
                ApiKey.id == key_id, ApiKey.workspace_id == workspace_id, ApiKey.kind == "dataset",
                ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow()))
            if result.rowcount == 0:
                raise NotFound("API key not found")

    def authenticate(self, token: str) -> DatasetPrincipal:
        """Resolve a `ds-` key. Raises Unauthorized for unknown, revoked or app keys."""
        with transaction(self._sessions) as session:
            key = session.scalars(select(ApiKey).where(ApiKey.token_hash == tokens.digest(token),
                                                       ApiKey.revoked_at.is_(None),
                                                       ApiKey.kind == "dataset")).first()
            if key is None:
                raise Unauthorized("Access token is invalid")
            now, last = utcnow(), as_utc(key.last_used_at)
            if last is None or (now - last).total_seconds() > 60:
                key.last_used_at = now
            return DatasetPrincipal(workspace_id=key.workspace_id, key_id=key.id)

    # -- datasets ---------------------------------------------------------------------------------------------
    def create(self, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        technique = body.get("indexing_technique") or "high_quality"
        if technique not in INDEXING_TECHNIQUES:
            raise InvalidParam("indexing_technique must be high_quality or economy", params="indexing_technique")
        provider, model = self._default_embedding
        if body.get("embedding_model"):
            provider, model = body.get("embedding_model_provider") or "openai", body["embedding_model"]
        row = Dataset(workspace_id=workspace_id, name=body["name"], description=body.get("description") or "",
                      permission=body.get("permission") or "only_me", indexing_technique=technique,
                      embedding_model=model if technique == "high_quality" else None,
                      embedding_model_provider=provider if technique == "high_quality" else None,
                      retrieval_model=body.get("retrieval_model") or None)
        try:
            with transaction(self._sessions) as session:
                session.add(row)
        except IntegrityError as exc:
            raise DatasetNameDuplicate() from exc
        return dataset_views.dataset(row)

    def load(self, session: Session, workspace_id: str, dataset_id: str) -> Dataset:
        return owned_dataset(session, workspace_id, dataset_id)

    def _view(self, session: Session, row: Dataset) -> dict[str, Any]:
        count, words = session.execute(select(func.count(Document.id), func.coalesce(func.sum(Document.word_count), 0))
                                       .where(Document.dataset_id == row.id)).one()
        return {**dataset_views.dataset(row, int(count), int(words), tags_of(session, [row.id])[row.id]),
                **fields_of(session, row.id)}

    def get(self, workspace_id: str, dataset_id: str) -> dict[str, Any]:
        with self._sessions() as session:
            return self._view(session, self.load(session, workspace_id, dataset_id))

    def list(self, workspace_id: str, page: int, limit: int, keyword: str | None = None,
             tag_ids: list[str] | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of the workspace's datasets, newest first; with `tag_ids`, only datasets bound to any of them."""
        with self._sessions() as session:
            query = select(Dataset).where(Dataset.workspace_id == workspace_id)
            if keyword:
                query = query.where(Dataset.name.contains(keyword, autoescape=True))
            if tag_ids:
                query = query.where(Dataset.id.in_(select(TagBinding.target_id).where(TagBinding.tag_id.in_(tag_ids))))
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(Dataset.created_at.desc()).offset((page - 1) * limit)
                                   .limit(limit)).all()
            return [self._view(session, r) for r in rows], int(total)

    def update(self, workspace_id: str, dataset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with transaction(self._sessions) as session:
                row = self.load(session, workspace_id, dataset_id)
                for field in ("name", "description", "permission", "retrieval_model"):
                    if field in body and body[field] is not None:
                        setattr(row, field, body[field])
                if body.get("indexing_technique") in INDEXING_TECHNIQUES:
                    row.indexing_technique = body["indexing_technique"]
                session.flush()
                return self._view(session, row)
        except IntegrityError as exc:
            raise DatasetNameDuplicate() from exc

    def delete(self, workspace_id: str, dataset_id: str) -> None:
        """Delete the dataset, its documents and segments, then its vector namespace."""
        with transaction(self._sessions) as session:
            row = self.load(session, workspace_id, dataset_id)
            # Explicit deletes (not only FK cascades) so SQLite's full-text triggers see every segment go.
            session.execute(DocumentSegment.__table__.delete().where(DocumentSegment.dataset_id == row.id))
            session.execute(Document.__table__.delete().where(Document.dataset_id == row.id))
            session.delete(row)
        self._drop_vectors(dataset_id)
