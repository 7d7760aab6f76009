"""The executor's per-node work: checkpoints held and written, abandoning a run, the stop check, and which events
go out at once (the executor over a private runs database: tests/app/services/execution_bench.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.engine.events import AgentLog, NodeFinished, NodeStarted, TextChunk
from app.engine.runner import Limits
from app.engine.state import NodeStatus, RunStatus
from app.models import NodeExecution, WorkflowRun
from app.providers.events.sql_table import SqlEventLog
from app.providers.llm import UnconfiguredLLM
from app.services.apps import Apps
from app.services.event_batcher import EventBatcher
from app.services.execution import STOP_CHECK_SECONDS, LeaseLost, RunBatch, RunExecutor
from app.wiring import build_llm
from tests.app.services.execution_bench import node_record


def test_quick_checkpoints_wait_for_the_next_slow_one_and_round_trip_exactly(bench):
    from app.services.execution import _record as restored

    run_id, neighbour = bench.table.add("branching"), bench.table.add("branching")
    lease, _ = bench.claim(run_id), bench.claim(neighbour)  # the same epoch, another run
    batch = RunBatch(EventBatcher(bench.events, run_id))
    quick = node_record("if", "if-else", tokens=2)
    bench.executor._checkpoint(lease, batch, quick)
    assert bench.nodes(run_id) == []  # held: a quick node is cheaper to run again than to write
    slow = node_record("llm", "llm", tokens=5)
    bench.executor._checkpoint(lease, batch, slow)
    rows = {row.node_id: row for row in bench.nodes(run_id)}
    assert all(row.finished_at is not None for row in rows.values())
    assert {node: restored(row) for node, row in rows.items()} == {"if": quick, "llm": slow}
    assert all(row.epoch == lease.epoch for row in rows.values())
    assert bench.table.row(run_id).total_tokens == 7
    failed = node_record("end", "end", status=NodeStatus.failed)
    bench.executor._checkpoint(lease, batch, failed)  # quick, but failed: written at once
    assert len(bench.nodes(run_id)) == 3 and batch.nodes == []
    assert bench.table.row(run_id).total_tokens == 7 and bench.table.row(neighbour).total_tokens == 0


def test_a_checkpoint_row_without_handle_or_metadata_restores_defaults(bench):
    from app.services.execution import _record as restored

    run_id = bench.table.add("branching")
    with transaction(bench.table.sessions) as session:
        session.add(NodeExecution(id="x-1", run_id=run_id, node_id="start", node_type="start", title="Start",
                                  index=1, status="succeeded", edge_handle=None, execution_metadata=None, epoch=1))
    [row] = bench.nodes(run_id)
    record = restored(row)
    assert (record.edge_handle, record.metadata, record.status) == ("source", {}, NodeStatus.succeeded)


def test_a_checkpoint_of_a_run_that_is_no_longer_running_is_refused(bench):
    run_id = bench.table.add("branching")
    lease = bench.claim(run_id)
    bench.table.set(run_id, status="stopped")
    with pytest.raises(LeaseLost):
        bench.executor._checkpoint(lease, RunBatch(EventBatcher(bench.events, run_id)),
                                   node_record("llm", "llm", tokens=5))
    assert bench.nodes(run_id) == [] and bench.table.row(run_id).total_tokens == 0


def test_abandon_fails_the_run_with_a_storable_reason_and_tells_its_followers(bench):
    run_id, neighbour = bench.table.add("branching"), bench.table.add("branching")
    lease, _ = bench.claim(run_id), bench.claim(neighbour)  # the same epoch, another run
    assert bench.executor.abandon(lease, ValueError("bad\x00\ud800" + "y" * 600))
    assert bench.table.row(neighbour).status == "running"
    row = bench.table.row(run_id)
    assert row.error == "The run could not be executed: ValueError: bad?" + "y" * 495
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("failed", None, None)
    assert row.finished_at is not None
    [(_, event)] = bench.events.read(run_id, None, 0)
    assert event["event"] == "workflow_finished" and event["data"]["status"] == "failed"


def test_abandon_leaves_a_run_that_is_no_longer_ours(bench):
    taken, done = bench.table.add("branching"), bench.table.add("branching")
    stale, finished = bench.claim(taken), bench.claim(done)
    bench.table.set(taken, epoch=stale.epoch + 1)
    bench.table.set(done, status="succeeded")
    for lease, status in ((stale, "running"), (finished, "succeeded")):
        assert not bench.executor.abandon(lease, RuntimeError("boom"))
        assert (bench.table.row(lease.run_id).status, bench.table.row(lease.run_id).error) == (status, None)
        assert bench.events.read(lease.run_id, None, 0) == []


def test_the_stop_check_reads_the_row_at_most_every_quarter_second_and_stays_stopped(bench):
    run_id = bench.table.add("branching")
    lease = bench.claim(run_id)
    should_stop = bench.executor._stop_checker(lease)
    bench.table.set(run_id, stop_requested=True)
    assert not should_stop()  # not read yet: the claim itself checked a moment ago
    time.sleep(STOP_CHECK_SECONDS)
    assert should_stop()
    bench.table.set(run_id, stop_requested=False)
    assert should_stop()  # once stopped, stopped


def test_the_stop_check_rereads_only_after_its_interval(bench):
    run_id = bench.table.add("branching")
    lease = bench.claim(run_id)
    should_stop = bench.executor._stop_checker(lease)
    time.sleep(STOP_CHECK_SECONDS)
    assert not should_stop()  # read: still wanted
    bench.table.set(run_id, epoch=lease.epoch + 1)  # taken over
    assert not should_stop()
    time.sleep(STOP_CHECK_SECONDS)
    assert should_stop()


def test_the_stop_check_stops_a_run_that_is_gone(bench):
    run_id = bench.table.add("branching")
    lease = bench.claim(run_id)
    should_stop = bench.executor._stop_checker(lease)
    with transaction(bench.table.sessions) as session:
        session.execute(delete(WorkflowRun).where(WorkflowRun.id == run_id))
    time.sleep(STOP_CHECK_SECONDS)
    assert should_stop()


def test_events_a_client_may_wait_for_go_out_at_once_and_quick_nodes_wait(bench):
    run_id = bench.table.add("branching")
    run = bench.table.row(run_id)
    batch = RunBatch(EventBatcher(bench.events, run_id, window=60))

    def emitted(event: object) -> list[str]:
        bench.executor._emit(run, batch, event)
        return [payload["event"] for _, payload in bench.events.read(run_id, None, 0)]

    assert emitted(NodeStarted(node_record("if", "if-else"))) == []  # quick: held
    assert emitted(NodeStarted(node_record("llm", "llm"))) == ["node_started", "node_started"]
    assert emitted(TextChunk("Hel", ("llm", "text")))[-1] == "text_chunk"  # the first token at once
    assert emitted(AgentLog(node_id="agent", id="step-1", label="think", status="start"))[-1] == "agent_log"
    assert emitted(NodeFinished(node_record("end", "end"))) == ["node_started", "node_started", "text_chunk",
                                                            "agent_log"]


class RecordingEventLog(SqlEventLog):
    """The embedded event log, noting which events each write carried (one round trip each)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.writes: list[list[str]] = []

    def append_many(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        self.writes.append([payload["event"] for payload in payloads])
        super().append_many(run_id, payloads)


def test_the_start_of_a_run_waits_to_go_out_with_the_next_event(bench):
    events = RecordingEventLog(bench.table.sessions)
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), events, UnconfiguredLLM(), Limits())
    assert executor.execute(bench.claim(bench.table.add("branching", inputs={"x": 3}))) == RunStatus.succeeded
    first = events.writes[0]
    assert first[0] == "workflow_started" and len(first) > 1  # no round trip of its own


def test_a_slow_node_end_shares_the_write_of_what_follows_it_at_once(bench, make_settings):
    events = RecordingEventLog(bench.table.sessions)
    executor = RunExecutor(bench.table.sessions, Apps(bench.table.sessions), events, build_llm(make_settings()),
                           Limits())
    assert executor.execute(bench.claim(bench.table.add("llm", inputs={"q": "hi"}))) == RunStatus.succeeded
    # issue 18: the model's end waits a moment for the end node's events instead of a round trip of its own, and
    # they go with workflow_finished: three writes for the run (the start, the first token, the rest).
    assert events.writes[0][-1] == "node_started" and events.writes[1] == ["text_chunk"]
    assert events.writes[-1][-4:] == ["node_finished", "node_started", "node_finished", "workflow_finished"]
    assert sum(write.count("node_finished") for write in events.writes) == 3 and len(events.writes) == 3
