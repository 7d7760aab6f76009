"""Dify's client SDKs against a running Trellis (gunicorn + Huey worker, embedded defaults, the local LLM
server): `dify-client-python`, `dify-oapi2` and `dify-dataset-sdk` in process, and the npm `dify-client` run by
node. Each exercises the documented calls Trellis supports; versions are pinned in requirements-dev.txt."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from bench.llm_server import StubLLMServer
from tests.integration.clients import (
    NODE_DRIVER,
    Deployment,
    build,
    deployment,
    node_client_folder,
    ok,
    option,
    sse_data,
    wait_indexed,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trellis(tmp_path_factory: pytest.TempPathFactory, llm_server: StubLLMServer) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("clients") / "home", llm_server) as running:
        yield running


def fields(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else data.model_dump()


# -- dify-client-python 1.0.3 ---------------------------------------------------------------------------------

def test_dify_client_python_workflow_and_chat(trellis: Deployment, llm_server: StubLLMServer) -> None:
    from dify_client import Client, models

    flow = Client(api_key=trellis.workflow_key, api_base=trellis.api)
    blocking = flow.run_workflows(models.WorkflowsRunRequest(
        inputs={"query": "ping"}, response_mode=models.ResponseMode.BLOCKING, user="py-user"))
    assert blocking.data.status == models.WorkflowStatus.SUCCEEDED and blocking.data.outputs == {"answer": "Echo: ping"}
    assert blocking.workflow_run_id == blocking.data.id and blocking.task_id
    events = list(flow.run_workflows(models.WorkflowsRunRequest(
        inputs={"query": "stream"}, response_mode=models.ResponseMode.STREAMING, user="py-user")))
    kinds = [str(e.event) for e in events]
    assert kinds[0] == "workflow_started" and kinds[-1] == "workflow_finished" and "text_chunk" in kinds
    # The client's event union resolves `data` to a plain dict (its Dict member wins pydantic's smart mode).
    assert fields(events[-1].data)["outputs"] == {"answer": "Echo: stream"}

    llm_server.config.latency = 1.0
    stream = flow.run_workflows(models.WorkflowsRunRequest(
        inputs={"query": "stop me"}, response_mode=models.ResponseMode.STREAMING, user="py-user"))
    started = next(stream)
    stopped = flow.stop_workflows(started.task_id, models.StopRequest(user="py-user"))
    assert stopped.result == "success"
    finished = [e for e in stream if str(e.event) == "workflow_finished"]
    assert fields(finished[0].data)["status"] == "stopped"
    llm_server.config.latency = 0.0

    chat = Client(api_key=trellis.chat_key, api_base=trellis.api)
    reply = chat.chat_messages(models.ChatRequest(query="Hello", response_mode=models.ResponseMode.BLOCKING,
                                                  user="py-user"))
    assert reply.answer == "Echo: Hello" and reply.metadata.usage.total_tokens > 0
    chunks = list(chat.chat_messages(models.ChatRequest(
        query="Again", response_mode=models.ResponseMode.STREAMING, user="py-user")))
    assert "".join(c.answer for c in chunks if str(c.event) == "message") == "Echo: Again"
    assert str(chunks[-1].event) == "message_end" and chunks[-1].conversation_id
    assert chunks[-1].metadata.usage.total_tokens > 0
    liked = chat.feedback_messages(reply.message_id, models.FeedbackRequest(rating=models.Rating.LIKE,
                                                                            user="py-user"))
    assert liked.result == "success"
    suggested = chat.suggest_messages(reply.message_id, models.ChatSuggestRequest(user="py-user"))
    assert suggested.result == "success" and suggested.data == []
    assert chat.stop_chat_messages("not-a-task", models.StopRequest(user="py-user")).result == "success"
    llm_server.config.latency = 1.0
    talk = chat.chat_messages(models.ChatRequest(query="Stop me", response_mode=models.ResponseMode.STREAMING,
                                                 user="py-user"))
    first = next(talk)
    assert chat.stop_chat_messages(first.task_id, models.StopRequest(user="py-user")).result == "success"
    rest = list(talk)
    assert [fields(e.data)["status"] for e in rest if str(e.event) == "workflow_finished"] == ["stopped"]
    llm_server.config.latency = 0.0
    uploaded = chat.upload_files(("notes.txt", b"some notes", "text/plain"), models.UploadFileRequest(user="py-user"))
    assert uploaded.name == "notes.txt" and uploaded.size == 10 and uploaded.created_by


# -- dify-oapi2 1.1.2 -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def oapi(trellis: Deployment) -> Iterator[Any]:
    from dify_oapi.client import Client

    client = Client.builder().domain(trellis.base_url).build()
    yield client
    client.close()


def test_dify_oapi2_workflow_and_app(trellis: Deployment, oapi: Any, llm_server: StubLLMServer) -> None:
    key, wf = option(trellis.workflow_key), "workflow.v1.model"
    body = build(f"{wf}.run_workflow_request_body", "RunWorkflowRequestBody", inputs={"query": "oapi"},
                 response_mode="blocking", user="oapi-user")
    run = ok(oapi.workflow.v1.workflow.run(build(f"{wf}.run_workflow_request", "RunWorkflowRequest",
                                              request_body=body), key))
    assert run.data.status == "succeeded" and run.data.outputs == {"answer": "Echo: oapi"}
    detail = ok(oapi.workflow.v1.workflow.detail(build(f"{wf}.get_workflow_run_detail_request",
                                                    "GetWorkflowRunDetailRequest",
                                                    workflow_run_id=run.workflow_run_id), key))
    assert detail.status == "succeeded" and detail.inputs == {"query": "oapi"}
    events = sse_data(oapi.workflow.v1.workflow.run(build(f"{wf}.run_workflow_request", "RunWorkflowRequest",
                                                       request_body=body), key, stream=True))
    assert events[0]["event"] == "workflow_started" and events[-1]["data"]["outputs"] == {"answer": "Echo: oapi"}
    logs = ok(oapi.workflow.v1.workflow.logs(build(f"{wf}.get_workflow_logs_request", "GetWorkflowLogsRequest",
                                                page=1, limit=10), key))
    assert logs.total >= 2 and run.workflow_run_id in {log.workflow_run.id for log in logs.data}
    stop_body = build(f"{wf}.stop_workflow_request_body", "StopWorkflowRequestBody", user="oapi-user")
    stopped = ok(oapi.workflow.v1.workflow.stop(build(f"{wf}.stop_workflow_request", "StopWorkflowRequest",
                                                   task_id=run.task_id, request_body=stop_body), key))
    assert stopped.result == "success"  # a finished run: stopping is a no-op

    dify = "dify.v1.model"
    info = ok(oapi.dify.v1.info.get(build(f"{dify}.get_info_request", "GetInfoRequest"), key))
    assert info.name and info.tags == []
    params = ok(oapi.dify.v1.info.parameters(build(f"{dify}.get_parameters_request", "GetParametersRequest"), key))
    assert params.user_input_form
    assert ok(oapi.dify.v1.info.meta(build(f"{dify}.get_meta_request", "GetMetaRequest"), key)).tool_icons is not None
    site = ok(oapi.dify.v1.info.site(build(f"{dify}.get_site_request", "GetSiteRequest"), key))
    assert site.title == info.name
    upload_body = build(f"{dify}.upload_file_body", "UploadFileBody", user="oapi-user")
    request = importlib.import_module(f"dify_oapi.api.{dify}.upload_file_request").UploadFileRequest.builder()
    request = request.file(io.BytesIO(b"hello file"), "hello.txt").request_body(upload_body).build()
    uploaded = ok(oapi.dify.v1.file.upload(request, key))
    assert uploaded.id and uploaded.size == 10


def test_dify_oapi2_chatflow_conversations_and_feedback(trellis: Deployment, oapi: Any) -> None:
    key, cf, user = option(trellis.chat_key), "chatflow.v1.model", "oapi-chat"
    body = build(f"{cf}.send_chat_message_request_body", "SendChatMessageRequestBody", query="Hi there", inputs={},
                 response_mode="blocking", user=user)
    reply = ok(oapi.chatflow.v1.chatflow.send(build(f"{cf}.send_chat_message_request", "SendChatMessageRequest",
                                                 request_body=body), key))
    assert reply.answer == "Echo: Hi there" and reply.conversation_id
    follow = build(f"{cf}.send_chat_message_request_body", "SendChatMessageRequestBody", query="More", inputs={},
                   response_mode="streaming", user=user, conversation_id=reply.conversation_id)
    events = sse_data(oapi.chatflow.v1.chatflow.send(build(f"{cf}.send_chat_message_request", "SendChatMessageRequest",
                                                        request_body=follow), key, stream=True))
    assert "".join(e.get("answer", "") for e in events if e["event"] == "message") == "Echo: More"

    conversations = ok(oapi.chatflow.v1.conversation.list(build(f"{cf}.get_conversations_request",
                                                             "GetConversationsRequest", user=user, limit=20), key))
    assert [c.id for c in conversations.data] == [reply.conversation_id]
    messages = ok(oapi.chatflow.v1.conversation.messages(build(
        f"{cf}.get_conversation_messages_request", "GetConversationMessagesRequest",
        conversation_id=reply.conversation_id, user=user), key))
    assert [m.query for m in messages.data] == ["Hi there", "More"]
    rename_body = build(f"{cf}.rename_conversation_request_body", "RenameConversationRequestBody", name="oapi talk",
                        user=user)
    renamed = ok(oapi.chatflow.v1.conversation.rename(build(f"{cf}.rename_conversation_request",
                                                         "RenameConversationRequest",
                                                         conversation_id=reply.conversation_id,
                                                         request_body=rename_body), key))
    assert renamed.name == "oapi talk"
    variables = ok(oapi.chatflow.v1.conversation.variables(build(
        f"{cf}.get_conversation_variables_request", "GetConversationVariablesRequest",
        conversation_id=reply.conversation_id, user=user), key))
    assert variables.data is not None
    suggested = ok(oapi.chatflow.v1.chatflow.suggested(build(f"{cf}.get_suggested_questions_request",
                                                          "GetSuggestedQuestionsRequest", message_id=reply.id,
                                                          user=user), key))
    assert suggested.result == "success"
    stop_body = build(f"{cf}.stop_chat_message_request_body", "StopChatMessageRequestBody", user=user)
    stopped = ok(oapi.chatflow.v1.chatflow.stop(build(f"{cf}.stop_chat_message_request", "StopChatMessageRequest",
                                                      task_id="unknown-task", request_body=stop_body), key))
    assert stopped.result == "success"

    dify = "dify.v1.model"
    rating = build(f"{dify}.submit_feedback_request_body", "SubmitFeedbackRequestBody", rating="dislike", user=user,
                   content="too short")
    rated = ok(oapi.dify.v1.feedback.submit(build(f"{dify}.submit_feedback_request", "SubmitFeedbackRequest",
                                                  message_id=reply.id, request_body=rating), key))
    assert rated.result == "success"
    feedbacks = ok(oapi.dify.v1.feedback.list(build(f"{dify}.get_feedbacks_request", "GetFeedbacksRequest", page=1,
                                                 limit=20), key))
    assert [(f.rating, f.content) for f in feedbacks.data][0] == ("dislike", "too short")  # newest first

    delete_body = build(f"{cf}.delete_conversation_request_body", "DeleteConversationRequestBody", user=user)
    ok(oapi.chatflow.v1.conversation.delete(build(f"{cf}.delete_conversation_request", "DeleteConversationRequest",
                                               conversation_id=reply.conversation_id, request_body=delete_body), key))
    left = ok(oapi.chatflow.v1.conversation.list(build(f"{cf}.get_conversations_request", "GetConversationsRequest",
                                                    user=user), key))
    assert left.data == []


def test_dify_oapi2_knowledge(trellis: Deployment, oapi: Any) -> None:
    key, kn, kb = option(trellis.dataset_key), "knowledge.v1.model", oapi.knowledge.v1
    body = build(f"{kn}.create_dataset_request_body", "CreateDatasetRequestBody", name="oapi kb",
                 indexing_technique="high_quality")
    dataset = ok(kb.dataset.create(build(f"{kn}.create_dataset_request", "CreateDatasetRequest",
                                         request_body=body), key))
    assert dataset.id and dataset.created_by
    assert ok(kb.dataset.get(build(f"{kn}.get_dataset_request", "GetDatasetRequest", dataset_id=dataset.id),
                             key)).name == "oapi kb"
    listed = ok(kb.dataset.list(build(f"{kn}.list_datasets_request", "ListDatasetsRequest", page=1, limit=20), key))
    assert dataset.id in {d.id for d in listed.data}
    text = build(f"{kn}.create_document_by_text_request_body", "CreateDocumentByTextRequestBody", name="faq",
                 text="Office hours are nine to five.", indexing_technique="high_quality")
    created = ok(kb.document.create_by_text(build(f"{kn}.create_document_by_text_request",
                                                  "CreateDocumentByTextRequest", dataset_id=dataset.id,
                                                  request_body=text), key))
    status = build(f"{kn}.get_batch_indexing_status_request", "GetBatchIndexingStatusRequest",
                   dataset_id=dataset.id, batch=created.batch)
    # Its response model is one flat status, while Dify (and Trellis) answer {"data": [status, ...]}: read raw.
    wait_indexed(lambda: json.loads(ok(kb.document.get_batch_status(status, key)).raw.content)["data"][0][
        "indexing_status"] == "completed")
    segments = ok(kb.segment.list(build(f"{kn}.list_segments_request", "ListSegmentsRequest", dataset_id=dataset.id,
                                        document_id=created.document.id), key))
    assert segments.data[0].content == "Office hours are nine to five."
    query = build(f"{kn}.retrieve_from_dataset_request_body", "RetrieveFromDatasetRequestBody", query="office hours")
    found = ok(kb.dataset.retrieve(build(f"{kn}.retrieve_from_dataset_request", "RetrieveFromDatasetRequest",
                                         dataset_id=dataset.id, request_body=query), key))
    assert found.records[0].segment.content == "Office hours are nine to five."

    tag_body = build(f"{kn}.create_tag_request_body", "CreateTagRequestBody", name="oapi", type="knowledge")
    tag = ok(kb.tag.create(build(f"{kn}.create_tag_request", "CreateTagRequest", request_body=tag_body), key))
    bind = build(f"{kn}.bind_tags_to_dataset_request_body", "BindTagsToDatasetRequestBody", target_id=dataset.id,
                 tag_ids=[tag.id])
    ok(kb.tag.bind(build(f"{kn}.bind_tags_to_dataset_request", "BindTagsToDatasetRequest", request_body=bind), key))
    bound = ok(kb.tag.get_dataset_tags(build(f"{kn}.get_dataset_tags_request", "GetDatasetTagsRequest",
                                             dataset_id=dataset.id), key))
    assert [t.name for t in bound.data] == ["oapi"]
    tags = ok(kb.tag.list(build(f"{kn}.list_tags_request", "ListTagsRequest", type="knowledge"), key))
    assert any(t.id == tag.id and t.binding_count == 1 for t in tags.data)
    models = ok(kb.model.embedding_models(build(f"{kn}.get_text_embedding_models_request",
                                                "GetTextEmbeddingModelsRequest"), key))
    assert models.data and models.data[0].models
    ok(kb.dataset.delete(build(f"{kn}.delete_dataset_request", "DeleteDatasetRequest", dataset_id=dataset.id), key))


# -- dify-dataset-sdk 0.6.3 -----------------------------------------------------------------------------------

HANDBOOK = ("Vacation policy: every employee has 25 days of paid vacation per year.\n\n"
            "Expenses: receipts must be filed within 30 days.")


def test_dify_dataset_sdk_knowledge_lifecycle(trellis: Deployment) -> None:
    from dify_dataset_sdk import DifyDatasetClient
    from dify_dataset_sdk.datasets.models import MetadataCondition, MetadataFilteringConditions, RetrievalModel

    with DifyDatasetClient(api_key=trellis.dataset_key, base_url=trellis.base_url, timeout=20) as kb:
        dataset = kb.datasets.create(name="sdk handbook", description="HR rules", indexing_technique="high_quality")
        assert dataset.created_by and dataset.updated_by and dataset.document_count == 0
        assert kb.datasets.get(dataset.id).name == "sdk handbook"
        assert kb.datasets.update(dataset.id, description="HR rules, 2026").description == "HR rules, 2026"
        models = kb.models.list_embedding_models().data
        assert models and models[0]["models"][0]["model_type"] == "text-embedding"

        created = kb.documents.create_by_text(dataset.id, name="handbook", text=HANDBOOK)
        assert created.document.name == "handbook" and created.document.created_by and created.batch
        wait_indexed(lambda: kb.documents.get_indexing_status(dataset.id, created.batch).data[0].indexing_status
                     == "completed")
        listing = kb.documents.list(dataset.id)
        assert listing.total == 1 and listing.data[0]["id"] == created.document.id
        assert kb.documents.get(dataset.id, created.document.id).indexing_status == "completed"
        assert kb.documents.get_upload_file(dataset.id, created.document.id)["name"] == "handbook.txt"

        segments = kb.segments.list(dataset.id, created.document.id).data
        assert segments and segments[0].created_by and segments[0].indexing_at
        added = kb.segments.create(dataset.id, created.document.id, [{"content": "Parking is free on weekends.",
                                                                      "keywords": ["parking"]}]).data[0]
        assert added.content == "Parking is free on weekends."
        assert kb.segments.get(dataset.id, created.document.id, added.id)["data"]["id"] == added.id
        kb.segments.update(dataset.id, created.document.id, added.id, {"content": "Parking is free on Sundays."})
        found = kb.datasets.retrieve(dataset.id, "How many vacation days do I get?")
        assert "25 days" in found.records[0].segment.content
        kb.segments.delete(dataset.id, created.document.id, added.id)

        tag = kb.tags.create("hr")
        assert tag.name == "hr" and tag.binding_count == 0
        kb.tags.bind_to_dataset(dataset.id, [tag.id])
        assert [t.name for t in kb.tags.get_dataset_tags(dataset.id)] == ["hr"]
        assert [t.binding_count for t in kb.tags.list() if t.id == tag.id] == [1]
        assert kb.datasets.list(tag_ids=[tag.id]).total == 1
        assert kb.tags.update(tag.id, "people").name == "people"
        kb.tags.unbind_from_dataset(dataset.id, tag.id)
        assert kb.tags.get_dataset_tags(dataset.id, return_detail=True).total == 0
        kb.tags.delete(tag.id)

        field = kb.metadata.create(dataset.id, "string", "owner")
        kb.metadata.update_document_metadata(dataset.id, [{"document_id": created.document.id, "metadata_list": [
            {"id": field.id, "value": "people-team", "name": "owner"}]}])
        listed = kb.metadata.list(dataset.id)
        assert [(m.name, m.type) for m in listed.doc_metadata] == [("owner", "string")]
        assert listed.built_in_field_enabled is False
        kb.metadata.toggle_built_in(dataset.id, "enable")
        assert kb.metadata.list(dataset.id).built_in_field_enabled is True
        assert kb.metadata.update(dataset.id, field.id, "team").name == "team"
        record = kb.datasets.retrieve(dataset.id, "vacation days").records[0]
        assert record.segment.document.doc_metadata["team"] == "people-team"
        for wanted, found in (("people-team", True), ("other-team", False)):
            model = RetrievalModel(search_method="semantic_search", reranking_enable=False, top_k=2,
                                   score_threshold_enabled=False,
                                   metadata_filtering_conditions=MetadataFilteringConditions(
                                       logical_operator="and",
                                       conditions=[MetadataCondition(name="team", comparison_operator="is",
                                                                     value=wanted)]))
            assert bool(kb.datasets.retrieve(dataset.id, "vacation days", retrieval_model=model).records) is found
        kb.metadata.delete(dataset.id, field.id)

        kb.documents.batch_update_status(dataset.id, "disable", [created.document.id])
        assert kb.datasets.retrieve(dataset.id, "vacation days").records == []
        kb.documents.delete(dataset.id, created.document.id)
        kb.datasets.delete(dataset.id)


# -- npm dify-client 2.3.2, run by node ------------------------------------------------------------------------

def test_npm_dify_client(trellis: Deployment) -> None:
    folder = node_client_folder()
    env = {**os.environ, "BASE": trellis.api, "CHAT_KEY": trellis.chat_key, "WORKFLOW_KEY": trellis.workflow_key}
    ran = subprocess.run(["node", NODE_DRIVER.name], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    errors = {name: value for name, value in out.items() if isinstance(value, dict) and "error" in value}
    assert errors == {}

    blocking = out["blocking"]
    assert blocking["answer"] == "Echo: Hello node" and blocking["conversation_id"]
    assert "".join(e.get("answer", "") for e in out["streamed"] if e["event"] == "message") == "Echo: Stream node"
    assert out["streamed"][-1]["event"] == "message_end"
    assert [m["query"] for m in out["messages"]["data"]] == ["Hello node", "Stream node"]
    assert blocking["conversation_id"] in {c["id"] for c in out["conversations"]["data"]}
    assert out["renamed"]["name"] == "Node talk"
    assert out["feedback"] == {"result": "success"}
    assert "user_input_form" in out["parameters"]
    assert out["upload"]["name"] == "node.txt" and out["upload"]["size"] == len("node file")
    assert out["deleted"] == 204
    assert out["run"]["data"]["outputs"] == {"answer": "Echo: node"}
    assert out["runStream"][-1]["event"] == "workflow_finished"
    assert out["runStream"][-1]["data"]["outputs"] == {"answer": "Echo: node stream"}
