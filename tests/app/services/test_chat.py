"""Chatflow services on embedded backends: turns run through the queue and the worker (Huey immediate mode),
memory reaches the LLM, conversation variables persist, and conversations are scoped by app and user."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import select, update

from app.db import transaction
from app.errors import InvalidParam, NotChatApp, NotFound, NotWorkflowApp
from app.models import ConversationVariable, Message, WorkflowRun
from app.services.accounts import AppPrincipal
from app.services.chat import ChatRequest
from tests.conftest import SAMPLES, fixture_dsl

CHATFLOW = fixture_dsl("chatflow.yml")


def principal(container: Any, dsl: str) -> AppPrincipal:
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, dsl)
    _, token = container.accounts.create_app_key(workspace, app.id)
    return container.accounts.authenticate_app_key(token)


def chatflow(window: int | None = None, answer: str = "{{#llm.text#}}",
             variables: list[dict[str, Any]] | None = None) -> str:
    doc = yaml.safe_load(CHATFLOW)
    nodes = {n["id"]: n for n in doc["workflow"]["graph"]["nodes"]}
    if window is not None:
        nodes["llm"]["data"]["memory"]["window"] = {"enabled": True, "size": window}
    nodes["answer"]["data"]["answer"] = answer
    doc["workflow"]["conversation_variables"] = variables or []
    return yaml.safe_dump(doc)


def turn(container: Any, who: AppPrincipal, query: str, conversation_id: str | None = None,
         user: str = "alice") -> dict[str, Any]:
    ticket = container.chats.submit(who, ChatRequest(query=query, user=user, conversation_id=conversation_id,
                                                     response_mode="blocking"))
    return container.chats.reply(ticket, 10)


def test_a_turn_runs_in_the_worker_and_persists_the_message(container, llm_server):
    who = principal(container, CHATFLOW)
    reply = turn(container, who, "hello")
    assert reply["answer"] == "Echo: hello" and reply["mode"] == "advanced-chat"
    assert reply["metadata"]["usage"]["total_tokens"] == reply["metadata"]["usage"]["prompt_tokens"] + \
        reply["metadata"]["usage"]["completion_tokens"] > 0
    with container.sessions() as session:
        message = session.get(Message, reply["message_id"])
        run = session.get(WorkflowRun, message.run_id)
    assert message.answer == "Echo: hello" and message.query == "hello"
    assert run.status == "succeeded" and run.outputs == {"answer": "Echo: hello"}
    # The fixture's memory template also names `userinput.files`, which does not exist: it renders empty.
    assert llm_server.chat_requests()[-1]["messages"][-1] == {"role": "user", "content": "hello"}


def test_memory_sends_earlier_turns_and_respects_the_window(container, llm_server):
    who = principal(container, chatflow(window=1))
    first = turn(container, who, "first question")
    turn(container, who, "second question", first["conversation_id"])
    turn(container, who, "third question", first["conversation_id"])
    sent = llm_server.chat_requests()[-1]["messages"]
    assert sent[1:] == [{"role": "user", "content": "second question"},
                        {"role": "assistant", "content": "Echo: second question"},
                        {"role": "user", "content": "third question"}]


def test_system_variables_and_conversation_variables(container):
    variables = [{"id": "v1", "name": "topic", "value_type": "string", "value": "weather", "description": "d"}]
    template = "{{#sys.query#}}|{{#sys.dialogue_count#}}|{{#conversation.topic#}}|{{#sys.conversation_id#}}"
    who = principal(container, chatflow(answer=template, variables=variables))
    first = turn(container, who, "q1")
    assert first["answer"] == f"q1|0|weather|{first['conversation_id']}"
    with container.sessions.begin() as session:  # what an assigner's write leaves behind after a turn
        session.execute(update(ConversationVariable).values(value="sports"))
    second = turn(container, who, "q2", first["conversation_id"])
    assert second["answer"] == f"q2|1|sports|{first['conversation_id']}"
    page = container.conversations.variables(who, "alice", first["conversation_id"], None, 20)
    assert [(v["name"], v["value"], v["value_type"]) for v in page.data] == [("topic", "sports", "string")]


def test_final_conversation_variable_values_are_written_back(container):
    from app.engine.runner import GraphRunner
    from app.services.chat_runs import ChatRunHooks

    variables = [{"name": "count", "value_type": "number", "value": 1}]
    who = principal(container, chatflow(answer="{{#conversation.count#}}", variables=variables))
    first = turn(container, who, "q")
    assert first["answer"] == "1"
    # Replay the worker's hooks for a new turn and change the variable as an assigner node would.
    ticket = container.chats.submit(who, ChatRequest(query="q2", user="alice",
                                                     conversation_id=first["conversation_id"]))
    with container.sessions() as session:
        run = session.get(WorkflowRun, ticket.run_id)
    workflow = container.apps.version(run.workflow_version_id)
    from app.engine.ports import EnginePorts
    from app.engine.state import RunOutcome, RunStatus

    ports = EnginePorts(llm=container.llm, emit=lambda event: None)
    runner = GraphRunner(workflow.graph, ports)
    hooks = ChatRunHooks(container.sessions)
    chat = hooks.attach(run, workflow, runner, ports, {})
    assert chat is not None and chat.conversation_values() == {"count": 1}
    runner.pool.set("conversation", "count", 5)
    write = hooks.finish(chat, run, RunOutcome(RunStatus.succeeded, {}, None, 0, 0))
    with container.sessions() as session:
        assert session.scalars(select(ConversationVariable.value)).one() == 1  # nothing written yet
    with transaction(container.sessions) as session:
        write(session)  # the worker runs it inside the run's fenced final transaction
    with container.sessions() as session:
        assert session.scalars(select(ConversationVariable.value)).one() == 5


def test_mode_checks(container):
    chat_app = principal(container, CHATFLOW)
    workflow_app = principal(container, (SAMPLES / "hello.yml").read_text())
    with pytest.raises(NotChatApp):
        container.chats.submit(workflow_app, ChatRequest(query="hi", user="u"))
    with pytest.raises(NotWorkflowApp):
        container.runs.submit(chat_app, {}, "u", "blocking")
    with pytest.raises(InvalidParam):
        container.chats.submit(chat_app, ChatRequest(query="  ", user="u"))


def test_conversations_are_scoped_by_app_and_user(container):
    mine, other_app = principal(container, CHATFLOW), principal(container, CHATFLOW)
    conversation_id = turn(container, mine, "secret")["conversation_id"]
    with pytest.raises(NotFound):
        turn(container, mine, "hi", conversation_id, user="mallory")
    with pytest.raises(NotFound):
        turn(container, other_app, "hi", conversation_id)
    with pytest.raises(NotFound):
        container.conversations.messages(other_app, "alice", conversation_id, None, 20)
    assert container.conversations.list(mine, "mallory", None, 20, "-updated_at").data == []
    assert len(container.conversations.list(mine, "alice", None, 20, "-updated_at").data) == 1


def test_listing_paging_rename_and_delete(container, llm_server):
    who = principal(container, CHATFLOW)
    ids = [turn(container, who, f"topic {i}")["conversation_id"] for i in range(3)]
    first = container.conversations.list(who, "alice", None, 2, "-updated_at")
    assert [c["id"] for c in first.data] == ids[::-1][:2] and first.has_more
    rest = container.conversations.list(who, "alice", first.data[-1]["id"], 2, "-updated_at")
    assert [c["id"] for c in rest.data] == [ids[0]] and not rest.has_more
    oldest = container.conversations.list(who, "alice", None, 1, "created_at")
    assert oldest.data[0]["id"] == ids[0] and oldest.data[0]["name"] == "topic 0"

    assert container.conversations.rename(who, "alice", ids[0], "Renamed", False)["name"] == "Renamed"
    llm_server.script(lambda request: "Weather Talk")
    assert container.conversations.rename(who, "alice", ids[0], None, True)["name"] == "Weather Talk"
    assert "topic 0" in llm_server.chat_requests()[-1]["messages"][0]["content"]

    container.conversations.delete(who, "alice", ids[0])
    with pytest.raises(NotFound):
        container.conversations.messages(who, "alice", ids[0], None, 20)
    with container.sessions() as session:
        assert session.scalars(select(Message).where(Message.conversation_id == ids[0])).first() is None


def test_messages_page_backwards_oldest_first(container):
    who = principal(container, CHATFLOW)
    conversation_id = turn(container, who, "m0")["conversation_id"]
    for i in range(1, 4):
        turn(container, who, f"m{i}", conversation_id)
    latest = container.conversations.messages(who, "alice", conversation_id, None, 2)
    assert [m["query"] for m in latest.data] == ["m2", "m3"] and latest.has_more
    earlier = container.conversations.messages(who, "alice", conversation_id, latest.data[0]["id"], 2)
    assert [m["query"] for m in earlier.data] == ["m0", "m1"] and not earlier.has_more
    assert container.conversations.suggested(who, "alice", latest.data[-1]["id"]) == []
    with pytest.raises(NotFound):
        container.conversations.suggested(who, "mallory", latest.data[-1]["id"])


def test_failed_turn_is_an_error_and_marks_the_message(container, llm_server):
    who = principal(container, CHATFLOW)
    llm_server.config.fail_status = 400
    ticket = container.chats.submit(who, ChatRequest(query="boom", user="alice"))
    with pytest.raises(InvalidParam):
        container.chats.reply(ticket, 10)
    with container.sessions() as session:
        message = session.get(Message, ticket.message_id)
    assert message.status == "error" and "400" in (message.error or "")


def test_turns_and_memory_on_postgres(make_settings, postgres_url, llm_server):
    from tests.conftest import build_test_container

    container = build_test_container(make_settings(database_url=postgres_url))
    try:
        who = principal(container, chatflow(variables=[{"name": "n", "value_type": "object", "value": {"a": 1}}]))
        first = turn(container, who, "on postgres")
        second = turn(container, who, "still here?", first["conversation_id"])
        assert second["answer"] == "Echo: still here?"
        assert {"role": "assistant", "content": "Echo: on postgres"} in llm_server.chat_requests()[-1]["messages"]
        page = container.conversations.variables(who, "alice", first["conversation_id"], None, 20)
        assert page.data[0]["value"] == {"a": 1}
    finally:
        container.close()


def test_suggested_questions_when_the_feature_is_on(container, llm_server):
    doc = yaml.safe_load(CHATFLOW)
    doc["workflow"]["features"]["suggested_questions_after_answer"] = {"enabled": True}
    who = principal(container, yaml.safe_dump(doc))
    message_id = turn(container, who, "Tell me about tea")["message_id"]
    llm_server.script(lambda request: 'Sure: ["What is green tea?", "How to brew?", 3, "Any caffeine?"]')
    assert container.conversations.suggested(who, "alice", message_id) == [
        "What is green tea?", "How to brew?", "Any caffeine?"]
    assert "Tell me about tea" in llm_server.chat_requests()[-1]["messages"][0]["content"]
    llm_server.script(lambda request: "no list here")
    assert container.conversations.suggested(who, "alice", message_id) == []
