"""The worker's side of a message turn. `attach` gives a run of a message app (`advanced-chat`, `chat`,
`agent-chat`, `completion`) what a workflow run lacks: `sys.query`, `sys.conversation_id`,
`sys.dialogue_count` and `sys.files`, the conversation's variables (the runner seeds `conversation.*` from
`ChatRun.conversation_values`), its earlier turns (for LLM memory) and answer streaming.
`finish` writes the turn's answer, usage and the conversation variables' final values before the run's
`workflow_finished` is published. Both are idempotent: a resumed attempt rewrites the same rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.engine.answer_stream import AnswerStream
from app.engine.ports import ChatTurn, EnginePorts
from app.engine.runner import GraphRunner
from app.engine.state import RunOutcome, RunStatus
from app.models import Conversation, ConversationVariable, Message, NodeExecution, WorkflowRun, WorkflowVersion
from app.models.base import as_utc, utcnow
from app.services.apps import PublishedWorkflow
from app.services.chat import default_variables
from app.services.chat_views import MESSAGE_MODES

HISTORY_TURNS = 100  # memory windows are smaller; Dify caps its history read at 500 messages


@dataclass
class ChatRun:
    message_id: str
    conversation_id: str
    variables: dict[str, dict[str, Any]]  # name -> value_type, value, description
    runner: GraphRunner
    stream: AnswerStream

    def conversation_values(self) -> dict[str, Any]:
        return {name: var["value"] for name, var in self.variables.items()}


class ChatRunHooks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def attach(self, run: WorkflowRun, workflow: PublishedWorkflow, runner: GraphRunner, ports: EnginePorts,
               system: dict[str, Any]) -> ChatRun | None:
        """Prepare a chatflow run (None for any other run): adds the chat `sys.*` values to `system`, loads the
        conversation variables, hands the history to the nodes and routes events through the answer stream."""
        if workflow.app.mode not in MESSAGE_MODES:
            return None
        with self._sessions() as session:
            message = session.scalars(select(Message).where(Message.run_id == run.id)).first()
            if message is None:
                return None
            earlier = list(session.scalars(
                select(Message).where(Message.conversation_id == message.conversation_id,
                                      Message.created_at < message.created_at)
                .order_by(Message.created_at.desc()).limit(HISTORY_TURNS)))
            stored = {v.name: v for v in session.scalars(select(ConversationVariable).where(
                ConversationVariable.conversation_id == message.conversation_id))}
            version = session.get(WorkflowVersion, workflow.version_id)
        variables = {v["name"]: v for v in default_variables(version.workflow if version else {})}
        for name, row in stored.items():
            variables[name] = {"name": name, "value_type": row.value_type, "value": row.value,
                               "description": row.description}
        system.update({"query": message.query, "conversation_id": message.conversation_id,
                       "dialogue_count": len(earlier), "files": list(message.files or [])})
        history = tuple(ChatTurn(m.query, m.answer) for m in reversed(earlier) if m.answer)
        ports.services = dataclasses.replace(ports.services, history=history)
        stream = AnswerStream(workflow.graph, runner.pool, ports.emit)
        ports.emit = stream
        return ChatRun(message.id, message.conversation_id, variables, runner, stream)

    def finish(self, chat: ChatRun, run: WorkflowRun, outcome: RunOutcome) -> Callable[[Session], None]:
        """Settle the turn: answer (every answer node's text when the run succeeded, else what was streamed
        before it stopped or failed), usage, status and the conversation variables' final values. Returns its
        write, for the caller to run inside the run's fenced final transaction: an attempt that lost its lease
        must not overwrite the message or the variables of the attempt that took over."""
        # The streamed text is the reply (with the answers of loop and iteration bodies, which have no rows),
        # unless some answer finished in an earlier attempt of a resumed run: then the stored rows are.
        resumed = any(r.node_type == "answer" and not chat.stream.saw_finish(r.node_id)
                      for r in chat.runner.records.values())
        stored = self._answer(run.id) if outcome.status == RunStatus.succeeded and resumed else ""
        answer = stored or chat.stream.text
        if "answer" not in outcome.outputs:  # a chatflow's run outputs are its reply, as in Dify
            outcome.outputs = {**outcome.outputs, "answer": answer}
        prompt, completion = self._usage(run.id)
        now = utcnow()
        latency = (now - (as_utc(run.created_at) or now)).total_seconds()

        def write(session: Session) -> None:
            session.execute(update(Message).where(Message.id == chat.message_id).values(
                answer=answer, status="error" if outcome.status == RunStatus.failed else "normal",
                error=outcome.error if outcome.status == RunStatus.failed else None, prompt_tokens=prompt,
                completion_tokens=completion, total_tokens=outcome.total_tokens or prompt + completion,
                latency=latency, updated_at=now))
            session.execute(update(Conversation).where(Conversation.id == chat.conversation_id)
                            .values(updated_at=now))
            self._save_variables(session, chat, now)

        return write

    def _save_variables(self, session: Session, chat: ChatRun, now: Any) -> None:
        rows = {v.name: v for v in session.scalars(select(ConversationVariable).where(
            ConversationVariable.conversation_id == chat.conversation_id))}
        for name, var in chat.variables.items():
            value = chat.runner.pool.get(["conversation", name])
            row = rows.get(name)
            if row is None:
                session.add(ConversationVariable(conversation_id=chat.conversation_id, name=name,
                                                 value_type=var["value_type"], value=value,
                                                 description=var["description"]))
            elif row.value != value:
                row.value, row.updated_at = value, now

    def _answer(self, run_id: str) -> str:
        with self._sessions() as session:
            rows = session.scalars(select(NodeExecution.outputs).where(
                NodeExecution.run_id == run_id, NodeExecution.node_type == "answer",
                NodeExecution.status == "succeeded").order_by(NodeExecution.index))
            return "".join(str((outputs or {}).get("answer") or "") for outputs in rows)

    def _usage(self, run_id: str) -> tuple[int, int]:
        with self._sessions() as session:
            rows = session.scalars(select(NodeExecution.execution_metadata).where(
                NodeExecution.run_id == run_id, NodeExecution.status == "succeeded"))
            metas = [m or {} for m in rows]
        return (sum(int(m.get("prompt_tokens") or 0) for m in metas),
                sum(int(m.get("completion_tokens") or 0) for m in metas))

