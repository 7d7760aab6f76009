"""Issue 14, attack 7: a workspace admin must not pause the deployment-wide queues or list the workers; only the
deployment operator may, and only the operator creates workspaces (`POST /manage/v1/workspaces`)."""

from __future__ import annotations

from app import create_app
from tests.conftest import ADMIN, ADMIN_HEADERS, build_test_container


def _new_workspace(client, headers=ADMIN_HEADERS, name="tenant B"):
    return client.post("/manage/v1/workspaces", json={"name": name}, headers=headers)


def test_operator_creates_a_workspace_whose_admin_works_only_there(client):
    created = _new_workspace(client)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["name"] == "tenant B" and body["admin_token"]["token"].startswith("adm-")
    other = {"Authorization": f"Bearer {body['admin_token']['token']}"}
    assert client.get("/manage/v1/apps", headers=other).get_json()["total"] == 0
    # The new admin is no operator: it can create no workspace either.
    assert _new_workspace(client, other).status_code == 403
    assert client.post("/manage/v1/workspaces", json={"name": "x"}).status_code == 401
    assert client.post("/manage/v1/workspaces", json={"name": ""}, headers=ADMIN_HEADERS).status_code == 400
    assert client.post("/manage/v1/workspaces", json={"name": "x" * 256},
                       headers=ADMIN_HEADERS).status_code == 400


def test_workspace_admin_cannot_pause_the_shared_queue_or_list_workers(client):
    """The attack: workspace B's admin token pauses the `runs` queue every workspace shares."""
    token = _new_workspace(client).get_json()["admin_token"]["token"]
    other = {"Authorization": f"Bearer {token}"}
    for path in ("/manage/v1/tasks/queues/runs/pause", "/manage/v1/tasks/queues/indexing/pause",
                 "/manage/v1/tasks/queues/runs/resume"):
        refused = client.post(path, headers=other)
        assert refused.status_code == 403, path
        assert refused.get_json()["code"] == "forbidden"
    assert client.get("/manage/v1/tasks/workers", headers=other).status_code == 403
    overview = client.get("/manage/v1/tasks", headers=other).get_json()
    assert overview["paused"]["runs"]["paused"] is False
    assert overview["workers"] == [] and overview["pending_tasks"] == []
    # The operator still can.
    assert client.post("/manage/v1/tasks/queues/runs/pause", headers=ADMIN_HEADERS).status_code == 200
    assert client.post("/manage/v1/tasks/queues/runs/resume", headers=ADMIN_HEADERS).status_code == 200


def test_a_separate_operator_token_takes_the_role_from_admin_token(make_settings):
    container = build_test_container(make_settings(operator_token="op-secret-operator"))
    try:
        client = create_app(container.settings, container).test_client()
        admin = {"Authorization": f"Bearer {ADMIN}"}
        operator = {"Authorization": "Bearer op-secret-operator"}
        assert client.post("/manage/v1/tasks/queues/runs/pause", headers=admin).status_code == 403
        assert client.post("/manage/v1/workspaces", json={"name": "c"}, headers=admin).status_code == 403
        assert client.post("/manage/v1/tasks/queues/runs/pause", headers=operator).status_code == 200
        assert client.post("/manage/v1/tasks/queues/runs/resume", headers=operator).status_code == 200
        assert client.get("/manage/v1/tasks/workers", headers=operator).status_code == 200
        assert client.post("/manage/v1/workspaces", json={"name": "c"}, headers=operator).status_code == 201
    finally:
        container.close()
