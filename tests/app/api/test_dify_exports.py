"""Real Dify exports through the Service API (Flask test client, embedded backends, Huey immediate) against
the local OpenAI-protocol server: import, run, Dify's response shape."""

from __future__ import annotations

from tests.conftest import DSL_DIR


def run_blocking(client, headers, inputs):
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": inputs, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_variable_aggregator_fixture_through_the_api(client, app_with_key):
    headers = app_with_key((DSL_DIR / "langgenius_dify_dual_switch_variable_aggregator_workflow.yml").read_text())
    data = run_blocking(client, headers, {"switch1": 1, "switch2": 0})
    assert data["status"] == "succeeded"
    assert data["outputs"] == {"group1": "switch 1 on", "group2": "switch 2 off"}


def test_svcvit_document_chat_with_deepseek_provider(client, app_with_key, llm_server):
    headers = app_with_key((DSL_DIR / "svcvit_Awesome-Dify-Workflow_Document_chat_template.yml").read_text())
    llm_server.script(lambda body: "询问结束")
    data = run_blocking(client, headers, {"input": "天气"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"] == {"output": "你的问题 天气 不属于dify文档的相关内容，请重新提问。"}
    assert [r["model"] for r in llm_server.chat_requests()] == ["deepseek-chat"]


def test_svcvit_intent_reply_classifier_and_unknown_dataset(client, app_with_key, llm_server):
    headers = app_with_key((DSL_DIR / "svcvit_Awesome-Dify-Workflow_intent_reply.yml").read_text())

    def reply(body):
        system = body["messages"][0]["content"]
        if "classification engine" in system:
            return '{"category_id": "1715846565625", "category_name": "使用帮助"}'
        return f"reply#{len(body['messages'])}"

    llm_server.script(reply)
    data = run_blocking(client, headers, {"query": "手环连不上"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["output"].startswith("reply#")
    models = [r["model"] for r in llm_server.chat_requests()]
    assert models[0] == "qwen-vl-plus" and len(models) == 4  # intent LLM, classifier, help reply, styling


def test_svcvit_translation_streams_node_events(client, app_with_key, llm_server):
    headers = app_with_key((DSL_DIR / "svcvit_Awesome-Dify-Workflow_translation_workflow.yml").read_text())
    response = client.post("/v1/workflows/run", headers=headers, json={
        "inputs": {"target_lang": "French", "source_text": "hello", "source_lang": "English"},
        "response_mode": "streaming", "user": "u1"})
    body = response.data.decode()
    assert '"event": "workflow_finished"' in body and '"status": "succeeded"' in body
    assert body.count('"node_type": "variable-aggregator"') == 2  # started + finished
    assert len(llm_server.chat_requests()) == 3
