"""Importing DSL: knowledge-retrieval dataset ids are remapped or dropped with a warning, as Dify does."""

from __future__ import annotations

import time

import pytest
import yaml

from app.db import transaction
from app.errors import NotFound
from app.models.datasets import Dataset
from app.services.apps import Apps
from tests.conftest import ADMIN_HEADERS, SAMPLES, fixture_dsl

EXPORT = fixture_dsl("v010_intent_reply.yml")


def _kr_ids(container, app_id: str) -> list[list[str]]:
    from app.models import WorkflowVersion

    with container.sessions() as session:
        version = session.query(WorkflowVersion).filter_by(app_id=app_id).one()
        return [n["data"]["dataset_ids"] for n in version.workflow["graph"]["nodes"]
                if n["data"].get("type") == "knowledge-retrieval"]


def test_unknown_dataset_ids_are_dropped_with_a_warning(client, container):
    response = client.post("/manage/v1/apps", data=EXPORT, headers={**ADMIN_HEADERS,
                                                                     "Content-Type": "application/yaml"})
    assert response.status_code == 201
    body = response.get_json()
    old = yaml.safe_load(EXPORT)
    wanted = [n["data"]["dataset_ids"] for n in old["workflow"]["graph"]["nodes"]
              if n["data"].get("type") == "knowledge-retrieval"][0]
    assert len(body["warnings"]) == len(wanted) and wanted[0] in body["warnings"][0]
    assert _kr_ids(container, body["id"]) == [[]]


def test_a_mapping_points_old_ids_at_datasets_of_this_workspace(client, container):
    workspace = container.accounts.default_workspace_id()
    with transaction(container.sessions) as session:
        dataset = Dataset(workspace_id=workspace, name="policies")
        session.add(dataset)
        session.flush()
        new_id = dataset.id
    old_id = [n["data"]["dataset_ids"] for n in yaml.safe_load(EXPORT)["workflow"]["graph"]["nodes"]
              if n["data"].get("type") == "knowledge-retrieval"][0][0]
    response = client.post(f"/manage/v1/apps?dataset_map={old_id}:{new_id}", data=EXPORT,
                           headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert response.status_code == 201
    assert "warnings" not in response.get_json()
    assert _kr_ids(container, response.get_json()["id"]) == [[new_id]]


def test_published_is_cached_per_process_and_a_new_version_applies_here_at_once(container):  # type: ignore[no-untyped-def]
    """Other processes (another Apps over the same database) see the new version within the TTL."""
    here, elsewhere = Apps(container.sessions, cache_seconds=0.5), Apps(container.sessions, cache_seconds=0.5)
    workspace_id = container.accounts.default_workspace_id()
    dsl = (SAMPLES / "hello.yml").read_text()
    app_id = here.import_dsl(workspace_id, dsl).id
    first = here.published(workspace_id, app_id).version_id
    assert elsewhere.published(workspace_id, app_id).version_id == first

    here.import_dsl(workspace_id, dsl, app_id=app_id)  # a new version, published at once
    second = here.published(workspace_id, app_id).version_id
    assert second != first
    assert elsewhere.published(workspace_id, app_id).version_id == first  # for at most the TTL
    time.sleep(0.6)
    assert elsewhere.published(workspace_id, app_id).version_id == second
    here.delete(workspace_id, app_id)
    with pytest.raises(NotFound):
        here.published(workspace_id, app_id)
