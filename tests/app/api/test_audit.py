"""The audit trail: every Service API and management call recorded (who, app, endpoint template, status,
latency, request id), `GET /manage/v1/audit` filters and paging, a run's call chain, and the retention purge."""

from __future__ import annotations

from datetime import timedelta

from app.models.base import utcnow
from app.services.audit import AuditEntry
from tests.conftest import ADMIN_HEADERS, app_key, build_test_container, fixture_dsl, import_app
from worker.maintenance import AuditPurger

LLM_DSL = fixture_dsl("llm_workflow.yml")


def audit(client, **params) -> dict:
    response = client.get("/manage/v1/audit", headers=ADMIN_HEADERS, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_service_and_management_calls_are_recorded(client, llm_server):
    app_id = import_app(client, LLM_DSL)
    headers = app_key(client, app_id)
    run = client.post("/v1/workflows/run", headers={**headers, "X-Request-Id": "req-audit"},
                      json={"inputs": {"query": "hi"}, "response_mode": "blocking", "user": "u"}).get_json()
    client.get(f"/v1/workflows/run/{run['workflow_run_id']}", headers=headers)
    client.get("/v1/info", headers={"Authorization": "Bearer app-wrong-key-000000000000"})

    body = audit(client)
    by_endpoint = {r["endpoint"]: r for r in body["data"]}
    posted = by_endpoint["/v1/workflows/run"]
    assert posted["actor_type"] == "app_key" and posted["actor_id"] and posted["app_id"] == app_id
    assert posted["status"] == 200 and posted["latency_ms"] > 0 and posted["request_id"] == "req-audit"
    assert by_endpoint["/v1/workflows/run/<run_id>"]["path"] == f"/v1/workflows/run/{run['workflow_run_id']}"
    keys = by_endpoint["/manage/v1/apps/<app_id>/api-keys"]
    assert keys["actor_type"] == "admin_token" and keys["app_id"] == app_id and keys["status"] == 201
    assert by_endpoint["/manage/v1/apps"]["method"] == "POST"
    # The unauthenticated call is kept, but belongs to no workspace, so this admin does not see it.
    assert all(r["status"] != 401 for r in body["data"])
    assert body["total"] == 4 and [r["created_at"] for r in body["data"]] == sorted(
        (r["created_at"] for r in body["data"]), reverse=True)


def test_filters_and_paging(client, app_with_key):
    headers = app_with_key(LLM_DSL)
    for _ in range(3):
        client.get("/v1/info", headers=headers)
    client.get("/v1/workflows/run/not-a-run", headers=headers)  # 404
    actor = audit(client, endpoint="/v1/info")["data"][0]["actor_id"]

    assert audit(client, endpoint="/v1/info")["total"] == 3
    assert [r["status"] for r in audit(client, status="4xx")["data"]] == [404]
    assert audit(client, status="404")["total"] == 1
    assert audit(client, actor_id=actor)["total"] == 4
    assert audit(client, method="get")["total"] >= 4
    first = audit(client, endpoint="/v1/info", limit=2, page=1)
    second = audit(client, endpoint="/v1/info", limit=2, page=2)
    assert first["has_more"] and not second["has_more"] and len(second["data"]) == 1
    assert {r["id"] for r in first["data"]}.isdisjoint(r["id"] for r in second["data"])
    future = (utcnow() + timedelta(days=1)).date().isoformat()
    assert audit(client, **{"from": future})["total"] == 0
    assert client.get("/manage/v1/audit", headers=ADMIN_HEADERS, query_string={"status": "abc"}).status_code == 400
    assert client.get("/manage/v1/audit").status_code == 401


def test_run_call_chain_has_nodes_tokens_cost_and_truncated_payloads(make_settings, llm_server):
    from app import create_app
    from tests.conftest import ADMIN

    pricing = '{"currency": "USD", "models": {"gpt-3.5-turbo": {"prompt": 1000, "completion": 2000}}}'
    container = build_test_container(make_settings(audit_field_limit=40, pricing=pricing))
    client = create_app(container.settings, container).test_client()
    container.accounts.ensure_admin_token(ADMIN)
    headers = app_key(client, import_app(client, LLM_DSL))
    query = "a long question " * 10
    run = client.post("/v1/workflows/run", headers=headers,
                      json={"inputs": {"query": query}, "response_mode": "blocking", "user": "u"}).get_json()
    chain = client.get(f"/manage/v1/audit/runs/{run['workflow_run_id']}", headers=ADMIN_HEADERS).get_json()
    assert [n["node_type"] for n in chain["nodes"]] == ["start", "llm", "end"]
    assert [n["index"] for n in chain["nodes"]] == [1, 2, 3]
    llm = chain["nodes"][1]
    meta = llm["execution_metadata"]
    assert meta["total_tokens"] == llm["total_tokens"] == chain["total_tokens"] > 0
    expected = (meta["prompt_tokens"] * 1000 + meta["completion_tokens"] * 2000) / 1e6
    assert float(meta["total_price"]) == float(chain["total_price"]) == expected
    start = chain["nodes"][0]
    assert start["inputs"]["truncated"] is True and len(start["inputs"]["preview"]) == 40
    assert chain["llm_calls"][0]["model"] == "gpt-3.5-turbo" and chain["llm_calls"][0]["outcome"] == "success"
    assert chain["llm_calls"][0]["time_to_first_token"] is not None
    missing = client.get("/manage/v1/audit/runs/00000000-0000-0000-0000-000000000000", headers=ADMIN_HEADERS)
    assert missing.status_code == 404
    container.close()


def test_retention_purge_removes_only_old_records(client, container):
    workspace = container.accounts.default_workspace_id()
    old = AuditEntry(method="GET", endpoint="/v1/info", path="/v1/info", status=200, latency_ms=1.0,
                     workspace_id=workspace, created_at=utcnow() - timedelta(days=100))
    container.ops.audit.record(old)
    client.get("/manage/v1/apps", headers=ADMIN_HEADERS)
    assert audit(client, endpoint="/v1/info")["total"] == 1
    assert AuditPurger(container).purge_once() == 1  # retention 90 days by default
    assert audit(client, endpoint="/v1/info")["total"] == 0
    assert audit(client, endpoint="/manage/v1/apps")["total"] >= 1
    assert AuditPurger(container).purge_once() == 0
