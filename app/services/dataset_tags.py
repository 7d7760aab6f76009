"""Knowledge tags of a workspace (Dify's tags of type `knowledge`) and their bindings to datasets: create,
list (with how many datasets each is bound to), rename, delete, bind, unbind, and the tags of one dataset.
Every tag and dataset is looked up within the caller's workspace; another workspace's id is a 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam, NotFound
from app.models import Dataset, Tag, TagBinding
from app.services.dataset_scope import owned_dataset

KIND = "knowledge"


def tag_item(row: Tag, binding_count: int = 0) -> dict[str, Any]:
    # Dify documents binding_count as a string of digits.
    return {"id": row.id, "name": row.name, "type": row.type, "binding_count": str(binding_count)}


def tags_of(session: Session, dataset_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """dataset id -> its tags ({id, name, type}), for the dataset views."""
    found: dict[str, list[dict[str, Any]]] = {d: [] for d in dataset_ids}
    if dataset_ids:
        rows = session.execute(select(TagBinding.target_id, Tag).join(Tag, Tag.id == TagBinding.tag_id)
                               .where(TagBinding.target_id.in_(dataset_ids)).order_by(Tag.name)).all()
        for target_id, tag in rows:
            found[target_id].append({"id": tag.id, "name": tag.name, "type": tag.type})
    return found


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 50:
        raise InvalidParam("name must be 1 to 50 characters", params="name")
    return name


class DatasetTags:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @staticmethod
    def _tag(session: Session, workspace_id: str, tag_id: str) -> Tag:
        row = session.get(Tag, tag_id)
        if row is None or row.workspace_id != workspace_id or row.type != KIND:
            raise NotFound("Tag not found.")
        return row

    @staticmethod
    def _dataset(session: Session, workspace_id: str, dataset_id: str) -> Dataset:
        return owned_dataset(session, workspace_id, dataset_id)

    @staticmethod
    def _count(session: Session, tag_id: str) -> int:
        return int(session.scalar(select(func.count(TagBinding.id)).where(TagBinding.tag_id == tag_id)) or 0)

    def create(self, workspace_id: str, name: str) -> dict[str, Any]:
        """A new tag. InvalidParam when the workspace already has a knowledge tag of that name."""
        row = Tag(workspace_id=workspace_id, type=KIND, name=_name(name))
        try:
            with transaction(self._sessions) as session:
                session.add(row)
        except IntegrityError as exc:
            raise InvalidParam("Tag name already exists", params="name") from exc
        return tag_item(row)

    def list(self, workspace_id: str) -> list[dict[str, Any]]:
        with self._sessions() as session:
            counts = dict(session.execute(select(TagBinding.tag_id, func.count(TagBinding.id))
                                          .join(Tag, Tag.id == TagBinding.tag_id)
                                          .where(Tag.workspace_id == workspace_id).group_by(TagBinding.tag_id)).all())
            rows = session.scalars(select(Tag).where(Tag.workspace_id == workspace_id, Tag.type == KIND)
                                   .order_by(Tag.created_at.desc(), Tag.name)).all()
            return [tag_item(r, int(counts.get(r.id, 0))) for r in rows]

    def rename(self, workspace_id: str, tag_id: str, name: str) -> dict[str, Any]:
        try:
            with transaction(self._sessions) as session:
                row = self._tag(session, workspace_id, tag_id)
                row.name = _name(name)
                session.flush()
                return tag_item(row, self._count(session, row.id))
        except IntegrityError as exc:
            raise InvalidParam("Tag name already exists", params="name") from exc

    def delete(self, workspace_id: str, tag_id: str) -> None:
        """Delete the tag and its bindings."""
        with transaction(self._sessions) as session:
            row = self._tag(session, workspace_id, tag_id)
            session.execute(delete(TagBinding).where(TagBinding.tag_id == row.id))
            session.delete(row)

    def bind(self, workspace_id: str, dataset_id: str, tag_ids: list[str]) -> None:
        """Bind the tags to the dataset; tags already bound stay bound (safe to repeat)."""
        if not tag_ids:
            raise InvalidParam("tag_ids must not be empty", params="tag_ids")
        with transaction(self._sessions) as session:
            self._dataset(session, workspace_id, dataset_id)
            bound = set(session.scalars(select(TagBinding.tag_id).where(TagBinding.target_id == dataset_id)))
            for tag_id in dict.fromkeys(tag_ids):
                self._tag(session, workspace_id, tag_id)
                if tag_id not in bound:
                    session.add(TagBinding(tag_id=tag_id, target_id=dataset_id))

    def unbind(self, workspace_id: str, dataset_id: str, tag_id: str) -> None:
        """Remove one binding; removing one that does not exist is not an error."""
        with transaction(self._sessions) as session:
            self._dataset(session, workspace_id, dataset_id)
            self._tag(session, workspace_id, tag_id)
            session.execute(delete(TagBinding).where(TagBinding.tag_id == tag_id, TagBinding.target_id == dataset_id))

    def of_dataset(self, workspace_id: str, dataset_id: str) -> dict[str, Any]:
        """`{"data": [{id, name}], "total"}` as Dify's `GET /datasets/{id}/tags` answers."""
        with self._sessions() as session:
            self._dataset(session, workspace_id, dataset_id)
            tags = tags_of(session, [dataset_id])[dataset_id]
        return {"data": [{"id": t["id"], "name": t["name"]} for t in tags], "total": len(tags)}
