"""`GET /manage/v1/runs/{id}/node-executions` and the console's run page: the workflow's nodes at their DSL
positions with this run's executions (iteration rounds included), masked, scoped to the workspace."""

from __future__ import annotations

from tests.conftest import ADMIN_HEADERS
from tests.trace_flows import traced_flow


def run(client, headers, inputs):
    response = client.post("/v1/workflows/run", json={"inputs": inputs, "response_mode": "blocking", "user": "u"},
                           headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["workflow_run_id"]


def test_node_executions_lay_out_the_run_with_positions_rounds_and_masking(client, app_with_key):
    headers = app_with_key(traced_flow())
    run_id = run(client, headers, {"q": "key sk-abcdefghijklmnopqrs", "items": ["a", "b"]})
    view = client.get(f"/manage/v1/runs/{run_id}/node-executions", headers=ADMIN_HEADERS).get_json()
    assert view["status"] == "succeeded"
    nodes = {n["id"]: n for n in view["nodes"]}
    assert (nodes["llm1"]["x"], nodes["llm1"]["y"]) == (330, 80) and nodes["llm1"]["status"] == "succeeded"
    assert nodes["llm1"]["total_tokens"] > 0 and nodes["llm1"]["elapsed_time"] > 0
    ask = nodes["ask"]
    assert ask["parent_id"] == "it" and [x["iteration_index"] for x in ask["executions"]] == [0, 1]
    # A body node is drawn inside its container (its position is relative to the container).
    it = nodes["it"]
    assert it["left"] <= ask["left"] and ask["left"] + ask["width"] <= it["left"] + it["width"]
    assert {"source": "start", "target": "llm1", "source_handle": "source"} in view["edges"]
    shown = str(view)
    assert "abcdefghijklmnopqrs" not in shown and "sk-***" in shown
    assert sum(n["total_tokens"] for n in view["nodes"] if not n["parent_id"]) == view["total_tokens"]


def test_the_run_page_draws_each_node_with_its_status(client, app_with_key, llm_server):
    headers = app_with_key(traced_flow())
    llm_server.config.fail_status = 400
    run_id = run(client, headers, {"q": "x", "items": []})
    page = client.get(f"/manage/console/runs/{run_id}", headers=ADMIN_HEADERS).get_data(as_text=True)
    assert 'data-node="llm1" data-status="failed"' in page and 'class="node failed"' in page
    assert 'id="node-llm1"' in page and "400 error from model endpoint" in page
    missing = client.get("/manage/v1/runs/not-a-run/node-executions", headers=ADMIN_HEADERS)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


def test_a_running_run_shows_its_running_node_and_reloads_itself(client, app_with_key, container):
    from sqlalchemy import update

    from app.db import transaction
    from app.models import WorkflowRun

    headers = app_with_key(traced_flow())
    run_id = run(client, headers, {"q": "x", "items": []})
    # As the run looks while a worker is on it: running, and the end node started but not finished.
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(status="running"))
    container.events.append(run_id, {"event": "node_started", "workflow_run_id": run_id, "data": {
        "id": "exec-live", "node_id": "end", "node_type": "end", "title": "End", "index": 99}})
    view = client.get(f"/manage/v1/runs/{run_id}/node-executions", headers=ADMIN_HEADERS).get_json()
    end = next(n for n in view["nodes"] if n["id"] == "end")
    assert end["executions"][-1]["id"] == "exec-live" and end["status"] == "running"
    page = client.get(f"/manage/console/runs/{run_id}", headers=ADMIN_HEADERS).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
