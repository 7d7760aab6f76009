"""Dify's client SDKs against a running Trellis (gunicorn + Huey worker, embedded defaults, the local LLM
server): `dify-client-python`, `dify-oapi2` and `dify-dataset-sdk` in process, and the npm `dify-client` run by
node. Each exercises the documented calls Trellis supports; versions are pinned in requirements-dev.txt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.llm_server import StubLLMServer
from tests.integration.clients import Deployment, deployment

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
    uploaded = chat.upload_files(("notes.txt", b"some notes", "text/plain"), models.UploadFileRequest(user="py-user"))
    assert uploaded.name == "notes.txt" and uploaded.size == 10 and uploaded.created_by


def wait_indexed(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "document not indexed in time"
        time.sleep(0.2)
