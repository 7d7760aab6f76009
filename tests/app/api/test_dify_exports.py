"""Dify-format documents (tests/fixtures/dsl, DSL 0.1.0 and 0.3.1) through the Service API (Flask test client,
embedded backends, Huey immediate) against the local OpenAI-protocol server: import, run, Dify's response shape."""

from __future__ import annotations

from tests.app.api.test_service_workflows import sse_events
from tests.conftest import fixture_dsl


def run_blocking(client, headers, inputs):
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": inputs, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_grouped_variable_aggregator_through_the_api(client, app_with_key):
    headers = app_with_key(fixture_dsl("variable_aggregator_groups.yml"))
    data = run_blocking(client, headers, {"left": 1, "right": 0})
    assert data["status"] == "succeeded"
    assert data["outputs"] == {"left": "left is on", "right": "right is off"}


def test_old_export_with_deepseek_provider_takes_the_off_topic_path(client, app_with_key, llm_server):
    headers = app_with_key(fixture_dsl("v010_classifier_knowledge.yml"))
    llm_server.script(lambda body: "DONE")
    data = run_blocking(client, headers, {"question": "the weather"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"] == {"output": "Sorry, the weather is not about the product."}
    assert [r["model"] for r in llm_server.chat_requests()] == ["deepseek-chat"]


def test_old_export_classifier_and_unknown_dataset(client, app_with_key, llm_server):
    headers = app_with_key(fixture_dsl("v010_intent_reply.yml"))

    def reply(body):
        system = body["messages"][0]["content"]
        if "classification engine" in system:
            return '{"category_id": "1710000000102", "category_name": "app help"}'
        return f"reply#{len(body['messages'])}"

    llm_server.script(reply)
    data = run_blocking(client, headers, {"message": "my wristband will not pair"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["output"].startswith("reply#")
    models = [r["model"] for r in llm_server.chat_requests()]
    assert models[0] == "qwen-vl-plus" and len(models) == 4  # intent LLM, classifier, help reply, tone


def test_old_export_streams_node_events(client, app_with_key, llm_server):
    headers = app_with_key(fixture_dsl("v010_translation_review.yml"))
    response = client.post("/v1/workflows/run", headers=headers, json={
        "inputs": {"target_lang": "French", "source_text": "hello", "source_lang": "English"},
        "response_mode": "streaming", "user": "u1"})
    events = sse_events(response.data)
    assert events[-1]["event"] == "workflow_finished" and events[-1]["data"]["status"] == "succeeded"
    aggregator = [e for e in events if (e.get("data") or {}).get("node_type") == "variable-aggregator"]
    assert len(aggregator) == 2  # started + finished
    assert len(llm_server.chat_requests()) == 3
