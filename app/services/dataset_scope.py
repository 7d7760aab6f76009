"""Tenancy for knowledge bases: the one way a service loads a dataset a caller names (by id, within the caller's
workspace). Everything that reads or changes a dataset, its documents, segments, tags or metadata goes through
`owned_dataset`, so a foreign id is always a 404 and never a leak."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Dataset


def owned_dataset(session: Session, workspace_id: str, dataset_id: str) -> Dataset:
    """The dataset, if it belongs to `workspace_id`. Raises NotFound (the same answer for absent and foreign)."""
    row = session.get(Dataset, dataset_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("Dataset not found.")
    return row
