"""Message turns from the caller's side: submit a chat message (chatflow, chat and agent-chat apps) or a
completion message (completion apps, which keep each message in a conversation of its own, as Dify does): the
conversation, the message and the run are written together, then the run is queued exactly like a workflow run.
Follow it as Dify's events of the app's mode or its blocking reply. Nothing here executes a graph; the worker
does (see `app.services.chat_runs`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.errors import InvalidParam, NotChatApp, NotCompletionApp, NotFound
from app.models import Conversation, ConversationVariable, Message, NodeExecution, WorkflowRun, WorkflowVersion
from app.models.base import utcnow
from app.services import chat_views
from app.services.accounts import AppPrincipal
from app.services.apps import Apps
from app.services.conversations import find_conversation
from app.services.runs import Runs

NAME_CHARS = 50


@dataclass(frozen=True)
class ChatRequest:
    query: str
    user: str
    inputs: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    response_mode: str = "streaming"
    auto_generate_name: bool = True
    trace: dict[str, Any] | None = None  # the run's trace context (app/services/run_trace.py)


@dataclass(frozen=True)
class ChatTicket:
    run_id: str
    task_id: str
    message_id: str
    conversation_id: str
    mode: str = chat_views.MODE


def default_variables(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The DSL's conversation variables: name, value_type, default value, description."""
    found = []
    for raw in workflow.get("conversation_variables") or []:
        if isinstance(raw, dict) and raw.get("name"):
            found.append({"name": str(raw["name"]), "value_type": str(raw.get("value_type") or "string"),
                          "value": raw.get("value"), "description": str(raw.get("description") or "")})
    return found


class Chats:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, runs: Runs) -> None:
        self._sessions = sessions
        self._apps = apps
        self._runs = runs

    def submit(self, who: AppPrincipal, request: ChatRequest, completion: bool = False) -> ChatTicket:
        """Start a turn (`completion`: a completion message). A new conversation takes the validated inputs and
        the DSL's conversation variables; an existing one (404 unless it belongs to this app and user) keeps its
        own inputs, as in Dify. Raises NotChatApp (NotCompletionApp) when the app's mode does not match the
        route, InvalidParam for an empty chat query or bad inputs, ServiceUnavailable when the queue refuses."""
        workflow = self._apps.published(who.workspace_id, who.app_id)
        mode = workflow.app.mode
        if completion and mode != chat_views.COMPLETION:
            raise NotCompletionApp()
        if not completion and mode not in chat_views.CHAT_MODES:
            raise NotChatApp()
        if not completion and not request.query.strip():
            raise InvalidParam("query is required", params="query")
        end_user_id = self._runs.end_user(who, request.user)
        conversation: Conversation | None = None
        if request.conversation_id and not completion:
            with self._sessions() as session:
                conversation = find_conversation(session, who.app_id, end_user_id, request.conversation_id)
        inputs = conversation.inputs if conversation else workflow.graph.start.validate_inputs(request.inputs)
        conversation_id = conversation.id if conversation else str(uuid.uuid4())
        run = WorkflowRun(id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), workspace_id=who.workspace_id,
                          app_id=who.app_id, workflow_version_id=workflow.version_id, end_user_id=end_user_id,
                          status="queued", response_mode=request.response_mode, inputs=inputs, enqueued_at=utcnow(),
                          trace=request.trace)
        message = Message(id=str(uuid.uuid4()), conversation_id=conversation_id, app_id=who.app_id, run_id=run.id,
                          query=request.query, inputs=inputs, files=list(request.files))

        def write(session: Session) -> None:
            if conversation is None:
                name = request.query.strip()[:NAME_CHARS] if request.auto_generate_name else "New conversation"
                session.add(Conversation(id=conversation_id, workspace_id=who.workspace_id, app_id=who.app_id,
                                         end_user_id=end_user_id, name=name, inputs=inputs, dialogue_count=1))
                version = session.get(WorkflowVersion, workflow.version_id)
                for var in default_variables(version.workflow if version else {}):
                    session.add(ConversationVariable(conversation_id=conversation_id, **var))
            else:
                session.execute(update(Conversation).where(Conversation.id == conversation_id).values(
                    updated_at=utcnow(), dialogue_count=Conversation.dialogue_count + 1))
            session.add(message)

        self._runs.enqueue(run, write)
        return ChatTicket(run.id, run.task_id, message.id, conversation_id, mode)

    def _message(self, message_id: str) -> Message:
        with self._sessions() as session:
            message = session.scalars(select(Message).where(Message.id == message_id)).first()
            if message is None:
                raise NotFound("Message Not Exists.")
            return message

    def follow(self, ticket: ChatTicket, timeout: float, heartbeat: float | None = None
               ) -> Iterator[dict[str, Any] | None]:
        """The turn's events in Dify's chatflow shape, ending after `workflow_finished` with `message_end`
        (or `error` when the run failed). None means "no event for a while": the caller sends a ping."""
        message = self._message(ticket.message_id)
        for payload in self._runs.follow(ticket.run_id, timeout, heartbeat):
            if payload is None:
                yield None
                continue
            event = chat_views.chat_event(payload, message, ticket.mode)
            if event is not None:
                yield event
            if payload.get("event") == "workflow_finished":
                final = self._message(message.id)
                data = payload.get("data") or {}
                if data.get("status") == "failed":
                    yield chat_views.error_event(ticket.task_id, final, str(data.get("error") or "Run failed"),
                                                 ticket.mode)
                else:
                    yield chat_views.message_end(ticket.task_id, final, ticket.mode)

    def add_agent_thoughts(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fill the `agent_thoughts` of message items (`GET /v1/messages`) from their runs' agent rounds, in
        order; messages of apps without agents keep an empty list. Two queries for the whole page."""
        ids = [str(item["id"]) for item in items]
        if not ids:
            return items
        with self._sessions() as session:
            runs = {run_id: message_id for run_id, message_id in session.execute(
                select(Message.run_id, Message.id).where(Message.id.in_(ids)))}
            rows = session.execute(select(NodeExecution.run_id, NodeExecution.process_data).where(
                NodeExecution.run_id.in_([r for r in runs if r]), NodeExecution.node_type == "agent",
                NodeExecution.status == "succeeded").order_by(NodeExecution.index))
            rounds: dict[str, list[dict[str, Any]]] = {}
            for run_id, process in rows:
                rounds.setdefault(runs[run_id], []).extend((process or {}).get("rounds") or [])
        for item in items:
            found = rounds.get(str(item["id"]), [])
            item["agent_thoughts"] = [chat_views.thought_item(r, str(item["id"]), item.get("created_at"))
                                      for r in found]
        return items

    def reply(self, ticket: ChatTicket, timeout: float) -> dict[str, Any]:
        """Block until the turn ends; Dify's blocking chat body. A failed run is a 400 `invalid_param` carrying
        the run's error, as Dify answers it."""
        data = self._runs.wait_finished(ticket.run_id, timeout)
        if data.get("status") == "failed":
            raise InvalidParam(str(data.get("error") or "Run failed"))
        return chat_views.blocking_reply(ticket.task_id, self._message(ticket.message_id), ticket.mode)
