"""Patterns from real Dify exports (the corpus in ../shared, and the project's own minimal fixtures that
reproduce each pattern) run end to end through the Service API on embedded backends."""

from __future__ import annotations

from tests.app.api.test_chat import chat
from tests.corpus import corpus_file, fixture


def test_sys_query_through_the_start_node_reaches_classifier_and_retrieval(client, app_with_key, llm_server):
    headers = app_with_key(fixture("sys_through_start.yml"))

    def classify(body):
        user = body["messages"][-1]["content"]
        return '{"category_id": "1"}' if "find the manual" in user else '{"category_id": "2"}'

    llm_server.script(classify)
    response = chat(client, headers, "find the manual", user="ada")
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()["answer"]
    # sys.user_id is the end user's id (not the `user` string), as in Dify.
    assert answer.startswith("searched find the manual as ") and len(answer) > len("searched find the manual as ")


def test_corpus_thinking_assistant_retrieves_with_the_query(client, app_with_key):
    headers = app_with_key(corpus_file("svcvit_Awesome-Dify-Workflow_思考助手.yml"))
    response = chat(client, headers, "how do I plan my week?")
    assert response.status_code == 200, response.get_json()  # was 400 "Query is required."
    assert response.get_json()["answer"]
