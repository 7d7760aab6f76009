"""Usage and cost: every LLM call priced from a known price table (node and run `execution_metadata`), embedding
requests priced too (indexing to the workspace, retrieval in a run to its app), the `/manage/v1/usage` report
by app, model, day and month on SQLite and on Postgres, and monthly budgets enforced with 429
`quota_exceeded`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import create_app
from app.metrics import metrics
from app.models import LlmCall
from app.services.usage import percentile
from tests.conftest import ADMIN, ADMIN_HEADERS, app_key, build_test_container, fixture_dsl, import_app

LLM_DSL = fixture_dsl("llm_workflow.yml")
# Per 1M tokens: easy to check by hand against the stub's word-count usage.
PRICING = """
currency: EUR
models:
  openai/gpt-3.5-turbo: {prompt: 2000, completion: 8000}
  openai/text-embedding-3-small: {prompt: 500, completion: 0}
"""


@pytest.fixture
def priced(make_settings) -> Callable[..., tuple]:
    built = []

    def factory(**overrides):
        container = build_test_container(make_settings(pricing=PRICING, **overrides))
        container.accounts.ensure_admin_token(ADMIN)
        built.append(container)
        return container, create_app(container.settings, container).test_client()

    yield factory
    for c in built:
        c.close()


def run(client, headers, query: str) -> dict:
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"query": query}, "response_mode": "blocking", "user": "u"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def expected_cost(llm_server) -> Decimal:
    """What the price table says the last call cost, from the request the stub actually received."""
    sent = llm_server.chat_requests()[-1]
    prompt = sum(len(m["content"].split()) for m in sent["messages"])
    completion = len(("Echo: " + sent["messages"][-1]["content"]).split())
    return (Decimal(prompt) * 2000 + Decimal(completion) * 8000) / Decimal(10**6)


def usage(client, **params) -> dict:
    response = client.get("/manage/v1/usage", headers=ADMIN_HEADERS, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_runs_and_nodes_carry_priced_execution_metadata(priced, llm_server):
    _, client = priced()
    headers = app_key(client, import_app(client, LLM_DSL))
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"query": "price me"}, "response_mode": "streaming", "user": "u"})
    from tests.app.api.test_service_workflows import sse_events

    events = sse_events(response.data)
    cost = expected_cost(llm_server)
    node = next(e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_type"] == "llm")
    meta = node["execution_metadata"]
    assert Decimal(meta["total_price"]) == cost and meta["currency"] == "EUR"
    assert meta["total_tokens"] == meta["prompt_tokens"] + meta["completion_tokens"]
    finished = events[-1]["data"]
    assert finished["execution_metadata"] == {"total_tokens": meta["total_tokens"], "total_price": meta["total_price"],
                                              "currency": "EUR"}
    detail = client.get(f"/v1/workflows/run/{finished['id']}", headers=headers).get_json()
    assert Decimal(detail["execution_metadata"]["total_price"]) == cost


def test_usage_report_by_app_model_day_and_month(priced, llm_server):
    _, client = priced()
    app_a, app_b = import_app(client, LLM_DSL), import_app(client, LLM_DSL)
    key_a, key_b = app_key(client, app_a), app_key(client, app_b)
    run(client, key_a, "one two three")
    cost_a1 = expected_cost(llm_server)
    run(client, key_a, "four")
    cost_a2 = expected_cost(llm_server)
    llm_server.config.fail_status = 400  # a failed call and a failed run, for the error rates
    assert run(client, key_b, "boom")["status"] == "failed"
    llm_server.config.fail_status = None
    run(client, key_b, "five six")
    cost_b = expected_cost(llm_server)

    by_app = {row["key"]: row for row in usage(client, group_by="app")["data"]}
    a, b = by_app[app_a], by_app[app_b]
    assert a["runs"] == 2 and a["calls"] == 2 and a["failed"] == 0 and a["error_rate"] == 0.0
    assert Decimal(a["total_price"]) == cost_a1 + cost_a2 and a["currency"] == "EUR" and a["name"]
    assert b["runs"] == 2 and b["failed"] == 1 and b["error_rate"] == 0.5 and b["calls"] == 2
    assert Decimal(b["total_price"]) == cost_b
    assert a["total_tokens"] == a["prompt_tokens"] + a["completion_tokens"] > 0
    assert a["latency_p50"] <= a["latency_p95"]

    model = usage(client, group_by="model")["data"]
    assert [m["key"] for m in model] == ["openai/gpt-3.5-turbo"]
    assert model[0]["calls"] == 4 and model[0]["failed"] == 1 and model[0]["error_rate"] == 0.25
    assert Decimal(model[0]["total_price"]) == cost_a1 + cost_a2 + cost_b

    today = datetime.now(UTC)
    day = usage(client, group_by="day")["data"]
    assert [d["key"] for d in day] == [today.strftime("%Y-%m-%d")] and day[0]["runs"] == 4
    month = usage(client, group_by="month", to=today.date().isoformat())["data"]
    assert [m["key"] for m in month] == [today.strftime("%Y-%m")] and month[0]["calls"] == 4
    assert usage(client, group_by="app", **{"from": "2001-01-01", "to": "2001-01-31"})["data"] == []
    bad = client.get("/manage/v1/usage", headers=ADMIN_HEADERS, query_string={"group_by": "user"})
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_param"


def test_a_workflow_tools_model_calls_count_for_the_calling_run_and_app(priced, llm_server):
    _, client = priced()
    callee = import_app(client, LLM_DSL)
    installed = client.post("/manage/v1/tool-providers", headers=ADMIN_HEADERS, json={
        "provider_type": "workflow", "provider_id": "ask-workflow", "name": "Ask",
        "config": {"app_id": callee, "name": "ask", "description": "Asks the model"}})
    assert installed.status_code == 201, installed.get_json()
    caller = import_app(client, fixture_dsl("llm_tool_caller.yml"))
    data = run(client, app_key(client, caller), "one two three")
    assert data["status"] == "succeeded", data["error"]
    cost = expected_cost(llm_server)
    [call] = llm_server.chat_requests()  # the callee's one model call, and nothing else
    tokens = sum(len(m["content"].split()) for m in call["messages"]) + len(
        ("Echo: " + call["messages"][-1]["content"]).split())
    assert data["total_tokens"] == tokens  # the run's total includes what its tool spent
    by_app = {row["key"]: row for row in usage(client, group_by="app")["data"]}
    assert set(by_app) == {caller}  # billed to the app that ran, not lost and not to the callee
    assert by_app[caller]["calls"] == 1 and by_app[caller]["total_tokens"] == tokens
    assert Decimal(by_app[caller]["total_price"]) == cost


def retrieval_app(dataset_id: str) -> dict:
    return {"app": {"name": "lookup", "mode": "workflow"}, "kind": "app", "version": "0.3.1",
            "workflow": {"graph": {"nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
                    {"variable": "question", "label": "Question", "type": "paragraph", "required": True}]}},
                {"id": "kr", "data": {"type": "knowledge-retrieval", "title": "Knowledge", "dataset_ids": [dataset_id],
                                      "query_variable_selector": ["start", "question"], "retrieval_mode": "multiple",
                                      "multiple_retrieval_config": {"top_k": 1}}},
                {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
                    {"variable": "chunks", "value_selector": ["kr", "result"]}]}}],
                "edges": [{"source": "start", "target": "kr"}, {"source": "kr", "target": "end"}]}}}


def test_embedding_calls_are_priced_for_the_workspace_and_the_running_app(priced, llm_server):
    container, client = priced(embedding_model="text-embedding-3-small")
    token = client.post("/manage/v1/datasets/api-keys", headers=ADMIN_HEADERS).get_json()["token"]
    ds = {"Authorization": f"Bearer {token}"}
    dataset = client.post("/v1/datasets", headers=ds, json={"name": "kb", "indexing_technique": "high_quality"})
    dataset_id = dataset.get_json()["id"]
    created = client.post(f"/v1/datasets/{dataset_id}/document/create-by-text", headers=ds,
                          json={"name": "policy", "text": "Delayed parcels are refunded after five business days."})
    assert created.status_code == 200, created.get_json()
    app_id = import_app(client, retrieval_app(dataset_id))
    data = run_question(client, app_key(client, app_id), "when are delayed parcels refunded")
    assert data["status"] == "succeeded" and data["outputs"]["chunks"]

    with container.sessions() as session:
        rows = session.scalars(select(LlmCall).where(LlmCall.kind == "embedding")
                               .order_by(LlmCall.created_at)).all()
    indexing, query = rows  # one request each: the document's chunk, then the run's query
    workspace = container.accounts.default_workspace_id()
    assert (indexing.workspace_id, indexing.app_id, indexing.run_id) == (workspace, None, None)
    assert (query.workspace_id, query.app_id, query.run_id) == (workspace, app_id, data["id"])
    assert indexing.prompt_tokens == 8 and query.prompt_tokens == 5  # the stub counts one token per word
    for row in rows:
        assert (row.provider, row.model, row.outcome) == ("openai", "text-embedding-3-small", "success")
        assert row.price_nanos == row.prompt_tokens * 500 * 1000 and row.currency == "EUR"

    by_model = {m["key"]: m for m in usage(client, group_by="model")["data"]}
    embedding = by_model["openai/text-embedding-3-small"]
    assert embedding["calls"] == 2 and embedding["prompt_tokens"] == 13 and embedding["completion_tokens"] == 0
    assert Decimal(embedding["total_price"]) == Decimal(13 * 500) / Decimal(10**6)
    by_app = {a["key"]: a for a in usage(client, group_by="app")["data"]}
    assert by_app[app_id]["calls"] == 1 and Decimal(by_app[app_id]["total_price"]) == Decimal(5 * 500) / 10**6
    assert by_app[""]["calls"] == 1  # indexing: the workspace's, no app
    assert container.ops.budgets.month_usage(app_id).tokens == 5  # retrieval counts against the app's budget


def run_question(client, headers, question: str) -> dict:
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"question": question}, "response_mode": "blocking", "user": "u"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_token_budget_refuses_new_runs_with_429(priced, llm_server):
    _, client = priced()
    app_id = import_app(client, LLM_DSL)
    headers = app_key(client, app_id)
    patched = client.patch(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS, json={"monthly_token_budget": 10})
    assert patched.status_code == 200 and patched.get_json()["budget"]["monthly_token_budget"] == 10
    first = run(client, headers, "spend the budget please")  # allowed: nothing used yet
    assert first["total_tokens"] >= 10
    refused = client.post("/v1/workflows/run", headers=headers,
                          json={"inputs": {"query": "again"}, "response_mode": "blocking", "user": "u"})
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["code"] == "quota_exceeded" and "monthly budget of 10" in body["message"]
    assert "monthly_token_budget" in body["message"]
    ratio = metrics().budget_used_ratio.labels(app_id, "tokens")._value.get()
    assert ratio >= 0.8  # the warning threshold of the alert rule
    # Raising the cap lets runs through again; other endpoints of the app were never blocked.
    assert client.get("/v1/info", headers=headers).status_code == 200
    client.patch(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS, json={"monthly_token_budget": None})
    assert run(client, headers, "free again")["status"] == "succeeded"


def test_cost_budget_and_validation(priced, llm_server):
    _, client = priced()
    app_id = import_app(client, LLM_DSL)
    headers = app_key(client, app_id)
    response = client.patch(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS, json={"monthly_cost_budget": "0.01"})
    assert response.get_json()["budget"]["monthly_cost_budget"] == "0.0100000"
    run(client, headers, "expensive words cost money here")
    assert expected_cost(llm_server) >= Decimal("0.01")
    refused = client.post("/v1/workflows/run", headers=headers,
                          json={"inputs": {"query": "x"}, "response_mode": "blocking", "user": "u"})
    assert refused.status_code == 429 and "EUR" in refused.get_json()["message"]
    budget = client.get(f"/manage/v1/apps/{app_id}/budget", headers=ADMIN_HEADERS).get_json()
    assert Decimal(budget["month_cost"]) == expected_cost(llm_server)
    for bad in ({"monthly_token_budget": -1}, {"monthly_cost_budget": "lots"}, {"name": "x"}, {}):
        assert client.patch(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS, json=bad).status_code == 400
    missing = client.patch("/manage/v1/apps/nope", headers=ADMIN_HEADERS, json={"monthly_token_budget": 1})
    assert missing.status_code == 404


def test_usage_report_on_postgres(priced, postgres_url, llm_server):
    container, client = priced(database_url=postgres_url)
    assert container.engine.dialect.name == "postgresql"
    app_id = import_app(client, LLM_DSL)
    headers = app_key(client, app_id)
    elapsed = [run(client, headers, q)["elapsed_time"] for q in ("a", "b c", "d e f")]
    costs = expected_cost(llm_server)
    report = usage(client, group_by="app")
    row = report["data"][0]
    assert row["key"] == app_id and row["runs"] == 3 and row["calls"] == 3
    assert Decimal(row["total_price"]) >= costs
    # percentile_cont on Postgres agrees with the Python interpolation used on SQLite.
    assert row["latency_p50"] == pytest.approx(percentile(elapsed, 0.5), abs=1e-5)
    assert row["latency_p95"] == pytest.approx(percentile(elapsed, 0.95), abs=1e-5)
    day = usage(client, group_by="day")["data"]
    assert day[0]["key"] == datetime.now(UTC).strftime("%Y-%m-%d") and day[0]["runs"] == 3
    assert usage(client, group_by="model")["data"][0]["key"] == "openai/gpt-3.5-turbo"
    # The budget gate reads the same rows on Postgres.
    client.patch(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS, json={"monthly_token_budget": 1})
    refused = client.post("/v1/workflows/run", headers=headers,
                          json={"inputs": {"query": "x"}, "response_mode": "blocking", "user": "u"})
    assert refused.status_code == 429
