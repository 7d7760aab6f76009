"""Tenant isolation of every Service API and management endpoint: a key of one app cannot read, stop or list
another app's runs, conversations or messages; a knowledge key or admin token of one workspace cannot reach
another workspace's datasets, documents, segments, files, apps or runs. Every refusal is 404 (never 403), so a
caller cannot probe which ids exist. Embedded backends, Flask test client."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from app.db import transaction
from app.errors import NotFound
from app.models import AdminToken, Workspace
from app.services import tokens
from tests.app.api.test_chat import CHATFLOW
from tests.app.api.test_datasets import support_workflow
from tests.conftest import ADMIN_HEADERS, SAMPLES, app_key, import_app

HELLO = (SAMPLES / "hello.yml").read_text()
OTHER_ADMIN = "adm-other-workspace-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenants:
    """Workspace 1 (the default one): workflow apps A and B, chat apps C and D, a knowledge key. Workspace 2:
    its own admin token, workflow app E, chat app F and knowledge key."""

    a: dict[str, str]
    b: dict[str, str]
    c: dict[str, str]
    d: dict[str, str]
    e: dict[str, str]
    f: dict[str, str]
    ds1: dict[str, str]
    ds2: dict[str, str]
    admin2: dict[str, str]
    app_a: str
    workspace2: str


@pytest.fixture
def tenants(client, container) -> Tenants:
    with transaction(container.sessions) as session:
        workspace = Workspace(name="second")
        session.add(workspace)
        session.flush()
        session.add(AdminToken(workspace_id=workspace.id, token_hash=tokens.digest(OTHER_ADMIN),
                               prefix=tokens.display_prefix(OTHER_ADMIN)))
        workspace2 = workspace.id
    admin2 = bearer(OTHER_ADMIN)
    app_a = import_app(client, HELLO)

    def other_app(dsl: str) -> dict[str, str]:
        created = client.post("/manage/v1/apps", data=dsl, headers={**admin2, "Content-Type": "application/yaml"})
        assert created.status_code == 201
        return bearer(client.post(f"/manage/v1/apps/{created.get_json()['id']}/api-keys",
                                  headers=admin2).get_json()["token"])

    def ds_key(headers: dict[str, str]) -> dict[str, str]:
        return bearer(client.post("/manage/v1/datasets/api-keys", headers=headers).get_json()["token"])

    return Tenants(a=app_key(client, app_a), b=app_key(client, import_app(client, HELLO)),
                   c=app_key(client, import_app(client, CHATFLOW)), d=app_key(client, import_app(client, CHATFLOW)),
                   e=other_app(HELLO), f=other_app(CHATFLOW), ds1=ds_key(ADMIN_HEADERS), ds2=ds_key(admin2),
                   admin2=admin2, app_a=app_a, workspace2=workspace2)


def assert_404(response, what: str) -> None:
    assert response.status_code == 404, (what, response.status_code, response.get_json())
    assert response.get_json()["code"] == "not_found", what


def test_runs_are_invisible_to_other_apps(client, tenants):
    started = client.post("/v1/workflows/run", headers=tenants.a,
                          json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u1"}).get_json()
    run_id, task_id = started["workflow_run_id"], started["task_id"]
    assert client.get(f"/v1/workflows/run/{run_id}", headers=tenants.a).status_code == 200
    for other in (tenants.b, tenants.c, tenants.e):
        assert_404(client.get(f"/v1/workflows/run/{run_id}", headers=other), "run detail")
        assert_404(client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=other, json={"user": "u1"}), "stop")
        # Chat stop answers success for any task id, as Dify does: the same answer as for an unknown id, so it
        # reveals nothing, and it touches only the caller's own runs.
        chat_stop = client.post(f"/v1/chat-messages/{task_id}/stop", headers=other, json={"user": "u1"})
        assert chat_stop.get_json() == {"result": "success"}
        for query in ("", f"?keyword={run_id}", "?created_by_end_user_session_id=u1"):
            logs = client.get(f"/v1/workflows/logs{query}", headers=other).get_json()
            assert logs["total"] == 0 and logs["data"] == [], query
    assert client.get("/v1/workflows/logs", headers=tenants.a).get_json()["total"] == 1


def test_conversations_and_messages_are_invisible_to_other_apps_and_users(client, tenants):
    reply = client.post("/v1/chat-messages", headers=tenants.c, json={
        "query": "secret question", "inputs": {}, "user": "alice", "response_mode": "blocking"}).get_json()
    conversation, message = reply["conversation_id"], reply["message_id"]
    # Same user name under another app (same or other workspace), and another user of the same app.
    for headers, user in ((tenants.d, "alice"), (tenants.f, "alice"), (tenants.c, "mallory")):
        listed = client.get(f"/v1/conversations?user={user}", headers=headers).get_json()
        assert listed["data"] == [], user
        assert_404(client.get(f"/v1/messages?user={user}&conversation_id={conversation}", headers=headers),
                   "messages")
        assert_404(client.get(f"/v1/conversations/{conversation}/variables?user={user}", headers=headers),
                   "variables")
        assert_404(client.post(f"/v1/conversations/{conversation}/name", headers=headers,
                               json={"name": "pwned", "user": user}), "rename")
        assert_404(client.delete(f"/v1/conversations/{conversation}", headers=headers, json={"user": user}),
                   "delete")
        assert_404(client.get(f"/v1/messages/{message}/suggested?user={user}", headers=headers), "suggested")
        continued = client.post("/v1/chat-messages", headers=headers, json={
            "query": "and?", "inputs": {}, "user": user, "response_mode": "blocking",
            "conversation_id": conversation})
        assert_404(continued, "continue another's conversation")
    mine = client.get(f"/v1/messages?user=alice&conversation_id={conversation}", headers=tenants.c).get_json()
    assert [m["query"] for m in mine["data"]] == ["secret question"]  # nothing was added or renamed


def test_datasets_documents_and_segments_are_invisible_to_other_workspaces(client, tenants):
    ds = tenants.ds1
    dataset = client.post("/v1/datasets", headers=ds, json={"name": "private"}).get_json()["id"]
    created = client.post(f"/v1/datasets/{dataset}/document/create-by-text", headers=ds,
                          json={"name": "doc", "text": "the launch code is 0000",
                                "indexing_technique": "economy"}).get_json()
    document, batch = created["document"]["id"], created["batch"]
    segments = client.get(f"/v1/datasets/{dataset}/documents/{document}/segments", headers=ds).get_json()["data"]
    segment = segments[0]["id"]
    base, doc = f"/v1/datasets/{dataset}", f"/v1/datasets/{dataset}/documents/{document}"
    other = tenants.ds2
    probes = [
        ("get", base, None), ("patch", base, {"name": "x"}), ("delete", base, None),
        ("get", f"{base}/documents", None), ("get", doc, None), ("delete", doc, None),
        ("post", f"{base}/document/create-by-text", {"name": "n", "text": "t"}),
        ("post", f"{doc}/update-by-text", {"name": "n", "text": "t"}),
        ("patch", f"{base}/documents/status/disable", {"document_ids": [document]}),
        ("get", f"{base}/documents/{batch}/indexing-status", None),
        ("get", f"{doc}/segments", None), ("post", f"{doc}/segments", {"segments": [{"content": "c"}]}),
        ("post", f"{doc}/segments/{segment}", {"segment": {"content": "c"}}),
        ("delete", f"{doc}/segments/{segment}", None),
        ("post", f"{base}/retrieve", {"query": "launch code"}),
    ]
    for method, url, body in probes:
        assert_404(getattr(client, method)(url, headers=other, json=body), f"{method} {url}")
    assert client.get("/v1/datasets", headers=other).get_json()["total"] == 0
    # App keys are not knowledge keys, whatever the workspace.
    assert client.get(base, headers=tenants.a).status_code == 401
    # Still all there for the owner.
    assert client.get(doc, headers=ds).status_code == 200
    hits = client.post(f"{base}/retrieve", headers=ds, json={"query": "launch code"}).get_json()["records"]
    assert hits and hits[0]["segment"]["id"] == segment


def test_a_workflow_of_another_workspace_cannot_retrieve_from_a_dataset_by_id(client, tenants, llm_server):
    ds = tenants.ds1
    dataset = client.post("/v1/datasets", headers=ds, json={"name": "kb", "indexing_technique": "economy"}
                          ).get_json()["id"]
    client.post(f"/v1/datasets/{dataset}/document/create-by-text", headers=ds,
                json={"name": "doc", "text": "the launch code is 0000", "indexing_technique": "economy"})
    seen: list[str] = []
    llm_server.script(lambda body: seen.append(str(body["messages"])) or "ok")
    import yaml

    dsl = yaml.safe_dump(support_workflow(dataset))
    created = client.post("/manage/v1/apps", data=dsl, headers={**tenants.admin2,
                                                                "Content-Type": "application/yaml"})
    key = bearer(client.post(f"/manage/v1/apps/{created.get_json()['id']}/api-keys",
                             headers=tenants.admin2).get_json()["token"])
    done = client.post("/v1/workflows/run", headers=key, json={
        "inputs": {"question": "launch code"}, "response_mode": "blocking", "user": "u"}).get_json()
    assert done["data"]["status"] == "succeeded"
    assert seen and not any("0000" in prompt for prompt in seen)


def test_uploaded_files_are_scoped_to_their_workspace(client, container, tenants):
    uploaded = client.post("/v1/files/upload", headers=tenants.a, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"payroll"), "pay.txt"), "user": "u1"}).get_json()
    files = container.knowledge.files
    workspace1 = container.accounts.default_workspace_id()
    assert files.read(files.get(workspace1, uploaded["id"])) == b"payroll"
    with pytest.raises(NotFound):
        files.get(tenants.workspace2, uploaded["id"])
    # The Service API has no route that serves an upload back.
    assert client.get(f"/v1/files/{uploaded['id']}", headers=tenants.e).status_code in (404, 405)


def test_management_of_another_workspace_is_404(client, tenants):
    run = client.post("/v1/workflows/run", headers=tenants.a,
                      json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u1"}).get_json()
    run_id = run["workflow_run_id"]
    key_id = client.get(f"/manage/v1/apps/{tenants.app_a}/api-keys",
                        headers=ADMIN_HEADERS).get_json()["data"][0]["id"]
    ds_key_id = client.post("/manage/v1/datasets/api-keys", headers=ADMIN_HEADERS).get_json()["id"]
    app = f"/manage/v1/apps/{tenants.app_a}"
    probes = [
        ("get", app, None), ("delete", app, None), ("get", f"{app}/versions", None), ("get", f"{app}/dsl", None),
        ("post", f"{app}/api-keys", None), ("get", f"{app}/api-keys", None),
        ("delete", f"{app}/api-keys/{key_id}", None), ("patch", app, {"monthly_token_budget": 1}),
        ("get", f"{app}/budget", None), ("get", f"/manage/v1/audit/runs/{run_id}", None),
        ("post", f"/manage/v1/tasks/runs/{run_id}/cancel", None),
        ("post", f"/manage/v1/tasks/runs/{run_id}/retry", None),
        ("post", f"/manage/v1/tasks/runs/{run_id}/requeue", None),
        ("delete", f"/manage/v1/datasets/api-keys/{ds_key_id}", None),
    ]
    for method, url, body in probes:
        assert_404(getattr(client, method)(url, headers=tenants.admin2, json=body), f"{method} {url}")
    update = client.put(app, data=HELLO, headers={**tenants.admin2, "Content-Type": "application/yaml"})
    assert_404(update, "publish over another workspace's app")
    assert all(a["id"] != tenants.app_a
               for a in client.get("/manage/v1/apps", headers=tenants.admin2).get_json()["data"])
    runs = client.get("/manage/v1/tasks/runs", headers=tenants.admin2).get_json()
    assert all(r["id"] != run_id for r in runs["data"])
    audit = client.get(f"/manage/v1/audit?app_id={tenants.app_a}", headers=tenants.admin2).get_json()
    # Only the second workspace's own (refused) calls: nothing app A's key or workspace 1's admin did.
    assert audit["total"] > 0
    assert {row["actor_type"] for row in audit["data"]} == {"admin_token"}
    assert all(row["status"] == 404 for row in audit["data"])
    # The owner's key still works: nothing was revoked.
    assert client.get("/v1/info", headers=tenants.a).status_code == 200
