"""Importing DSL: knowledge-retrieval dataset ids are remapped or dropped with a warning, as Dify does."""

from __future__ import annotations

import yaml

from app.db import transaction
from app.models.datasets import Dataset
from tests.conftest import ADMIN_HEADERS, DSL_DIR

EXPORT = (DSL_DIR / "svcvit_Awesome-Dify-Workflow_intent_reply.yml").read_text()


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
