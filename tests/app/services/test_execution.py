"""The executor on real storage: what a first and a resumed attempt write and restore, fencing by the lease
epoch, metering, tracing, chat turns and files (checkpoints, abandoning, the stop check and events are in
test_execution_checkpoints.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import delete, select, update

from app.db import transaction
from app.engine.ports import NodeServices
from app.engine.runner import Limits
from app.engine.state import RunOutcome, RunStatus
from app.errors import ServiceUnavailable, WorkflowError
from app.models import EndUser, NodeExecution, WorkflowRun
from app.models.audit import LlmCall
from app.models.base import utcnow
from app.models.chat import Conversation, ConversationVariable, Message
from app.providers.events.sql_table import SqlEventLog
from app.providers.llm import UnconfiguredLLM
from app.providers.objects import FolderObjectStore
from app.providers.tracing import ExportConfig, OtelTracer
from app.services.accounts import AppPrincipal
from app.services.apps import Apps
from app.services.event_batcher import EventBatcher
from app.services.execution import LeaseLost, RunBatch, RunExecutor
from app.services.files import Files
from app.services.knowledge import KnowledgeRetrieverAdapter, UsageScope
from app.services.leases import Lease, Leases
from app.services.run_files import RunFileStore
from app.services.run_trace import Tracing
from app.wiring import build_llm
from tests.app.services.execution_bench import BRANCHING, Bench, node_record
from tests.conftest import FIXTURES, build_test_container


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_resumed_attempt_restores_the_if_else_branch_from_its_checkpoint(backend, make_settings, request):
    overrides = {"database_url": request.getfixturevalue("postgres_url")} if backend == "postgres" else {}
    container = build_test_container(make_settings(**overrides))
    try:
        workspace = container.accounts.default_workspace_id()
        app = container.apps.import_dsl(workspace, BRANCHING)
        run_id = container.runs.submit(AppPrincipal(workspace, app.id, "k"), {"x": 3}, "u1", "blocking").run_id
        first = container.runs.load(run_id)
        assert first.status == "succeeded" and first.outputs == {"big": None, "small": "small"}
        # Pretend the worker died after the if-else: keep its checkpoint (and the start's), drop the rest, and
        # change the inputs so that re-evaluating the condition would now take the other branch.
        with transaction(container.sessions) as session:
            session.execute(delete(NodeExecution).where(NodeExecution.run_id == run_id,
                                                        NodeExecution.node_id.not_in(["start", "if"])))
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(
                status="queued", outputs=None, finished_at=None, inputs={"x": 9}))
        lease = Leases(container.sessions, lease_seconds=30).acquire(run_id, "w2")
        assert lease is not None and not lease.started_now
        from worker.runtime import build_runtime

        build_runtime(container).executor.execute(lease)
        resumed = container.runs.load(run_id)
        assert resumed.status == "succeeded" and resumed.outputs == {"big": None, "small": "small"}
    finally:
        container.close()


# Fast unit tests of the executor on a private SQLite copy (tests/run_table.py): what a first attempt writes,
# what a resumed one restores, and that every write is fenced by the lease.



def test_a_first_attempt_writes_the_outcome_nodes_and_events_of_its_epoch(bench):
    run_id = bench.table.add("branching", inputs={"x": 3}, created_at=utcnow() - timedelta(seconds=10))
    lease = bench.claim(run_id)
    assert bench.executor.execute(lease) == RunStatus.succeeded
    row = bench.table.row(run_id)
    assert (row.status, row.outputs, row.error, row.total_steps, row.exceptions_count) == (
        "succeeded", {"big": None, "small": "small"}, None, 4, 0)
    assert (row.lease_owner, row.lease_expires_at, row.price_currency) == (None, None, "EUR")
    assert row.finished_at is not None and 10 <= row.elapsed_time < 60
    nodes = bench.nodes(run_id)
    assert [(n.node_id, n.status, n.epoch) for n in nodes] == [
        ("start", "succeeded", lease.epoch), ("if", "succeeded", lease.epoch),
        ("small", "succeeded", lease.epoch), ("end", "succeeded", lease.epoch)]
    assert nodes[2].predecessor_node_id == "if" and nodes[1].edge_handle == "false"
    names = bench.event_names(run_id)
    assert names[0] == "workflow_started" and names[-1] == "workflow_finished"
    assert names.count("workflow_started") == 1 and names.count("node_finished") == 4


def test_a_metered_attempt_adds_its_tokens_and_price_to_the_run(bench):
    run_id = bench.table.add("llm", inputs={"q": "three little words"})
    assert bench.executor.execute(bench.claim(run_id)) == RunStatus.succeeded
    row = bench.table.row(run_id)
    [_, llm, _] = bench.nodes(run_id)
    meta = llm.execution_metadata
    assert llm.total_tokens > 0 and row.total_tokens == llm.total_tokens
    expected = (meta["prompt_tokens"] * 1000 + meta["completion_tokens"] * 3000) * 1000
    assert row.total_price_nanos == expected > 0 and meta["currency"] == "EUR"
    assert row.outputs == {"answer": llm.outputs["text"]}
    with bench.table.sessions() as session:
        [call] = session.scalars(select(LlmCall).where(LlmCall.run_id == run_id)).all()
    assert (call.app_id, call.workspace_id) == (row.app_id, row.workspace_id)


def test_the_graph_sees_the_run_as_its_system_variables(bench):
    app_id, version_id = bench.table.apps["system"]
    with transaction(bench.table.sessions) as session:
        session.add(EndUser(id="eu-1", workspace_id=bench.table.workspace_id, app_id=app_id, session_id="ada"))
    run_id = bench.table.add("system", end_user_id="eu-1")
    assert bench.executor.execute(bench.claim(run_id)) == RunStatus.succeeded
    assert bench.table.row(run_id).outputs == {"user": "eu-1", "app": app_id, "workflow": version_id,
                                               "run": run_id, "files": []}


def test_a_traced_attempt_reports_its_nodes_model_calls_and_outcome(bench, make_settings):
    exporter = InMemorySpanExporter()
    tracer = OtelTracer(ExportConfig(traces_url="http://127.0.0.1:9/v1/traces", headers={},
                                     schedule_delay_ms=50), exporter=exporter)
    table = bench.table
    apps = Apps(table.sessions)
    executor = RunExecutor(table.sessions, apps, bench.events, build_llm(make_settings()), Limits(),
                           tracing=Tracing(lambda: tracer))
    try:
        run_id = table.add("llm", inputs={"q": "hi"})
        first = bench.claim(run_id)
        assert executor.execute(first) == RunStatus.succeeded
        with transaction(table.sessions) as session:  # the end's checkpoint failed: it runs again
            session.execute(update(NodeExecution).where(NodeExecution.run_id == run_id,
                                                        NodeExecution.node_id == "end").values(status="failed"))
        table.set(run_id, status="queued")
        second = bench.claim(run_id)
        assert executor.execute(second) == RunStatus.succeeded
        stale = bench.claim(table.add("llm", inputs={"q": "hi"}))
        table.set(stale.run_id, epoch=stale.epoch + 1)
        assert executor.execute(stale) is None
        assert tracer.flush()
    finally:
        tracer.shutdown()
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "workflow_run"]
    assert sorted(r.attributes["trellis.run.attempts"] for r in roots) == [1, 2]  # none for the stale attempt
    assert all(r.attributes["trellis.run.id"] == run_id for r in roots)
    [resume] = [s for s in spans if s.name == "workflow_run.resume"]
    assert (resume.attributes["trellis.run.attempt"], resume.attributes["trellis.run.restored_nodes"]) == (2, 2)
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 2  # the first attempt's and the stale one's; the resumed attempt restored the LLM
    nodes = [s.attributes["trellis.node.id"] for s in spans if s.attributes.get("trellis.run.attempt") == 2
             and "trellis.node.id" in s.attributes]
    assert nodes == ["end"]


def _crash_after_the_if_else(bench: Bench, run_id: str, **values: object) -> None:
    """Keep the checkpoints of the start and the if-else, drop the rest, and queue the run again."""
    with transaction(bench.table.sessions) as session:
        session.execute(delete(NodeExecution).where(NodeExecution.run_id == run_id,
                                                    NodeExecution.node_id.not_in(["start", "if"])))
    bench.table.set(run_id, status="queued", outputs=None, finished_at=None, **values)


def test_a_resumed_attempt_restores_exactly_the_succeeded_checkpoints(bench):
    run_id, neighbour = bench.table.add("branching", inputs={"x": 3}), bench.table.add("branching", inputs={"x": 9})
    first = bench.claim(run_id)
    bench.executor.execute(first)
    bench.executor.execute(bench.claim(neighbour))  # its checkpoints are not ours to restore
    before = len(bench.event_names(run_id))
    # With new inputs a re-evaluated if-else would take the other branch: the restored one must not.
    _crash_after_the_if_else(bench, run_id, inputs={"x": 9})
    second = bench.claim(run_id)
    assert not second.started_now
    assert bench.executor.execute(second) == RunStatus.succeeded
    assert bench.table.row(run_id).outputs == {"big": None, "small": "small"}
    assert [(n.node_id, n.epoch) for n in bench.nodes(run_id)] == [
        ("start", first.epoch), ("if", first.epoch), ("small", second.epoch), ("end", second.epoch)]
    assert "workflow_started" not in bench.event_names(run_id)[before:]


def test_a_failed_checkpoint_is_run_again_on_resume(bench):
    run_id = bench.table.add("branching", inputs={"x": 3})
    bench.executor.execute(bench.claim(run_id))
    _crash_after_the_if_else(bench, run_id, inputs={"x": 9})
    with transaction(bench.table.sessions) as session:
        session.execute(update(NodeExecution).where(NodeExecution.run_id == run_id).values(status="failed"))
    assert bench.executor.execute(bench.claim(run_id)) == RunStatus.succeeded
    assert bench.table.row(run_id).outputs == {"big": "big", "small": None}


def test_a_lease_without_its_run_row_reads_the_run(bench):
    run_id = bench.table.add("branching", inputs={"x": 3})
    claimed = bench.claim(run_id)
    lease = Lease(run_id, "w", claimed.epoch, claimed.attempt)  # as handed over without the row
    assert bench.executor.execute(lease) == RunStatus.succeeded
    again = bench.table.add("branching", inputs={"x": 3})
    claimed = bench.claim(again)
    fresh = Lease(again, "w", claimed.epoch, claimed.attempt, started_now=True)
    assert bench.executor.execute(fresh) == RunStatus.succeeded
    assert bench.executor.execute(Lease("no-such-run", "w", 1, 1)) is None


def test_a_lease_made_without_a_claim_starts_the_run(bench):
    run_id, neighbour = bench.table.add("branching", inputs={"x": 3}), bench.table.add("branching")
    bench.table.set(run_id, status="running", epoch=4)
    bench.table.set(neighbour, status="running", epoch=4)
    assert bench.executor.execute(Lease(run_id, "w", 4, 1)) == RunStatus.succeeded
    assert bench.table.row(run_id).started_at is not None
    assert bench.event_names(run_id)[0] == "workflow_started"
    assert bench.table.row(neighbour).started_at is None


def test_a_fenced_write_of_a_stale_lease_raises_and_writes_nothing(bench):
    mine, other = bench.table.add("branching"), bench.table.add("branching")
    lease, theirs = bench.claim(mine), bench.claim(other)
    bench.executor._fenced(lease, error="mine")
    assert (bench.table.row(mine).error, bench.table.row(other).error) == ("mine", None)
    bench.table.set(mine, epoch=lease.epoch + 1)
    with pytest.raises(LeaseLost) as lost:
        bench.executor._fenced(lease, error="zombie")
    assert lost.value.args == (mine,)
    assert bench.table.row(mine).error == "mine" and theirs.epoch == bench.table.row(other).epoch


def test_finishing_writes_the_held_rows_with_their_price_and_survives_a_silent_event_log(bench, caplog):
    run_id, neighbour = bench.table.add("branching", total_price_nanos=100), bench.table.add("branching")
    lease, _ = bench.claim(run_id), bench.claim(neighbour)
    run = lease.run
    down = DownEventLog(bench.table.sessions)
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), down, UnconfiguredLLM(), Limits())
    batch = RunBatch(EventBatcher(down, run_id))
    row, _ = executor._node_row(lease, node_record("end", "end"))
    batch.nodes.append((row, 25))
    outcome = RunOutcome(status=RunStatus.failed, outputs={"a": 1}, error="boom", total_tokens=3, total_steps=2,
                         exceptions_count=1)
    with caplog.at_level(logging.WARNING, logger="app.services.execution"):
        assert executor._finish(lease, batch, run, outcome) == RunStatus.failed
    final = bench.table.row(run_id)
    assert (final.status, final.outputs, final.error, final.total_tokens, final.total_steps,
            final.exceptions_count, final.total_price_nanos, final.price_currency) == (
        "failed", {"a": 1}, "boom", 3, 2, 1, 125, "USD")
    assert [n.node_id for n in bench.nodes(run_id)] == ["end"] and batch.nodes == []
    assert (bench.table.row(neighbour).status, bench.table.row(neighbour).outputs) == ("running", None)
    [warning] = [r for r in caplog.records if r.name == "app.services.execution"]
    assert (warning.getMessage(), warning.run_id) == ("event log unavailable at the run's end", run_id)


class DownEventLog(SqlEventLog):
    """The event log during an outage (Redis unreachable): every append fails as the adapters report it."""

    def append(self, run_id: str, payload: dict[str, object]) -> str:
        raise ServiceUnavailable("event log unreachable")

    def append_many(self, run_id: str, payloads: list[dict[str, object]]) -> None:
        raise ServiceUnavailable("event log unreachable")


class CountingEventLog(SqlEventLog):
    """The embedded event log, remembering the events of each write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: list[list[str]] = []

    def append(self, run_id: str, payload: dict[str, Any]) -> str:
        self.writes.append([str(payload["event"])])
        return super().append(run_id, payload)

    def append_many(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        self.writes.append([str(p["event"]) for p in payloads])
        super().append_many(run_id, payloads)


def test_a_run_of_quick_nodes_writes_its_events_with_workflow_finished_in_one_write(bench):
    run_id = bench.table.add("branching", inputs={"x": 3})
    events = CountingEventLog(bench.table.sessions)
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), events, UnconfiguredLLM(), Limits())
    assert executor.execute(bench.claim(run_id)) == RunStatus.succeeded
    # issue 18: the held events of the last quick nodes go out with workflow_finished, not in a write before it.
    assert len(events.writes) == 1 and events.writes[0][0] == "workflow_started"
    assert events.writes[0][-3:] == ["node_started", "node_finished", "workflow_finished"]


def test_an_attempt_whose_lease_was_taken_over_writes_nothing(bench, caplog):
    runs = []
    for app, inputs in (("llm", {"q": "hi"}), ("branching", {"x": 3})):
        run_id = bench.table.add(app, inputs=inputs)
        runs.append(run_id)
        lease = bench.claim(run_id)
        bench.table.set(run_id, epoch=lease.epoch + 1, lease_owner="other")
        with caplog.at_level(logging.WARNING, logger="app.services.execution"):
            assert bench.executor.execute(lease) is None
        row = bench.table.row(run_id)
        assert (row.status, row.outputs, row.finished_at, row.total_tokens) == ("running", None, None, 0)
        assert bench.nodes(run_id) == []
        assert "workflow_finished" not in bench.event_names(run_id)
    # The LLM's checkpoint found the lease lost; the quick graph only learnt it at the end.
    [record] = [r for r in caplog.records if r.name == "app.services.execution"]
    assert (record.getMessage(), record.run_id, record.epoch) == ("lease lost, abandoning attempt", runs[0], 1)


def _chat_turn(bench: Bench, n: int) -> str:
    """A chat run with its end user, conversation `c-n` and message `m-n`; an earlier turn left the
    conversation's counter `turns` at 2. Returns the run id."""
    app_id, _ = bench.table.apps["chat"]
    with transaction(bench.table.sessions) as session:
        session.add(EndUser(id=f"eu-{n}", workspace_id=bench.table.workspace_id, app_id=app_id, session_id=f"u{n}"))
    run_id = bench.table.add("chat", end_user_id=f"eu-{n}")
    with transaction(bench.table.sessions) as session:
        session.add(Conversation(id=f"c-{n}", workspace_id=bench.table.workspace_id, app_id=app_id,
                                 end_user_id=f"eu-{n}"))
        session.flush()
        session.add(Message(id=f"m-{n}", conversation_id=f"c-{n}", app_id=app_id, run_id=run_id, query="hi"))
        session.add(ConversationVariable(conversation_id=f"c-{n}", name="turns", value_type="number", value=2))
    return run_id


def test_a_chatflow_turn_answers_into_its_message_and_keeps_its_conversation(bench):
    run_id = _chat_turn(bench, 1)
    # The turn starts from the counter the earlier turn left, not from the default.
    assert bench.executor.execute(bench.claim(run_id)) == RunStatus.succeeded
    assert bench.table.row(run_id).outputs == {"answer": "You said hi"}
    with bench.table.sessions() as session:
        assert session.get(Message, "m-1").answer == "You said hi"
        [turns] = session.scalars(select(ConversationVariable).where(ConversationVariable.conversation_id == "c-1"))
    assert (turns.name, turns.value) == ("turns", 3)


def test_a_chatflow_attempt_that_loses_its_lease_at_the_end_leaves_the_turn_alone(bench, monkeypatch):
    run_id = _chat_turn(bench, 2)
    lease = bench.claim(run_id)
    hooks, settle = bench.executor._chat, bench.executor._chat.finish

    def settled_then_taken_over(*args: object) -> object:
        # The lease is lost after the graph ran and before the run's final write: the narrowest window.
        turn = settle(*args)
        bench.table.set(run_id, epoch=lease.epoch + 1, lease_owner="other")
        return turn

    monkeypatch.setattr(hooks, "finish", settled_then_taken_over)
    assert bench.executor.execute(lease) is None
    with bench.table.sessions() as session:
        assert session.get(Message, "m-2").answer == ""  # the message and variables are the new owner's to write
        assert session.scalars(select(ConversationVariable.value).where(
            ConversationVariable.conversation_id == "c-2")).one() == 2


def test_a_run_stopped_midway_ends_stopped_unless_its_lease_was_lost(bench, llm_server):
    llm_server.config.tokens_per_second = 40  # the answer streams for longer than a stop check
    stopped = bench.table.add("llm", inputs={"q": "a b c d e f g h i j k l m n o p q r s t u v w x y z"})
    lease = bench.claim(stopped)
    bench.table.set(stopped, stop_requested=True)
    assert bench.executor.execute(lease) == RunStatus.stopped
    assert bench.table.row(stopped).status == "stopped"
    taken = bench.table.add("llm", inputs={"q": "a b c d e f g h i j k l m n o p q r s t u v w x y z"})
    stale = bench.claim(taken)
    bench.table.set(taken, epoch=stale.epoch + 1, lease_owner="other")
    assert bench.executor.execute(stale) is None
    assert bench.table.row(taken).status == "running"


def test_a_run_reads_files_of_its_own_workspace_and_bills_retrieval_to_itself(bench, tmp_path):
    files = Files(bench.table.sessions, FolderObjectStore(tmp_path / "objects"), 1_000_000)
    stored = files.upload(bench.table.workspace_id, "notes.txt", b"hello", "text/plain", None)
    worker = NodeServices(files=RunFileStore(files, None), retriever=KnowledgeRetrieverAdapter(knowledge=None))
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), bench.events, UnconfiguredLLM(),
                           Limits(), services=worker)
    run = bench.table.row(bench.table.add("branching"))
    services = executor._run_services(run)
    assert services.files is not None
    assert services.files.describe({"upload_file_id": stored.id})["filename"] == "notes.txt"
    with pytest.raises(WorkflowError):  # the worker's own store belongs to no workspace
        worker.files.describe({"upload_file_id": stored.id})
    assert services.retriever._scope == UsageScope(run.app_id, run.id)


def test_a_run_reads_its_uploaded_file_through_the_worker_services_scoped_to_it(bench, tmp_path):
    view = Apps(bench.table.sessions).import_dsl(bench.table.workspace_id,
                                                 (FIXTURES.parent / "file_extractor.yml").read_text())
    assert view.published_version_id is not None
    bench.table.apps["extract"] = (view.id, view.published_version_id)
    files = Files(bench.table.sessions, FolderObjectStore(tmp_path / "objects"), 1_000_000)
    stored = files.upload(bench.table.workspace_id, "notes.txt", b"hello world", "text/plain", None)
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), bench.events, UnconfiguredLLM(),
                           Limits(), services=NodeServices(files=RunFileStore(files, None)))
    doc = {"transfer_method": "local_file", "upload_file_id": stored.id, "type": "document"}
    run_id = bench.table.add("extract", inputs={"doc": doc})
    assert executor.execute(bench.claim(run_id)) == RunStatus.succeeded, bench.table.row(run_id).error
    assert bench.table.row(run_id).outputs == {"text": "hello world", "name": "notes.txt"}


def test_the_worker_limits_bound_every_run(bench):
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), bench.events, UnconfiguredLLM(),
                           Limits(max_steps=2))
    run_id = bench.table.add("branching", inputs={"x": 3})
    assert executor.execute(bench.claim(run_id)) == RunStatus.failed
    assert "steps" in bench.table.row(run_id).error
