"""Leases on runs: exclusive claims, fencing epochs and the reaper, on SQLite and on the real Postgres."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import transaction
from app.models import WorkflowRun
from app.models.base import utcnow
from app.services.accounts import AppPrincipal
from app.services.execution import LeaseLost
from app.services.leases import Leases
from tests.conftest import SAMPLES, build_test_container

HELLO = (SAMPLES / "hello.yml").read_text()


@pytest.fixture(params=["sqlite", "postgres"])
def queued(request, make_settings):
    """A container whose runs stay queued (no consumer), and a function that submits one run."""
    overrides = {}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    container = build_test_container(make_settings(**overrides))
    container.huey.immediate = False
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, HELLO)
    who = AppPrincipal(workspace, app.id, "key")
    yield container, lambda: container.runs.submit(who, {"name": "Ada"}, "u1", "streaming").run_id
    container.close()


def test_only_one_of_many_racing_workers_gets_the_lease(queued):
    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=30)
    won: list[object] = []
    barrier = threading.Barrier(6)

    def claim(owner: str) -> None:
        barrier.wait()
        lease = leases.acquire(run_id, owner)
        if lease:
            won.append(lease)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert container.runs.load(run_id).status == "running"


def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced(queued):
    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=0.2)
    first = leases.acquire(run_id, "old")
    assert first and leases.acquire(run_id, "new") is None  # still leased
    time.sleep(0.3)
    second = leases.acquire(run_id, "new")
    assert second and second.epoch == first.epoch + 1 and second.attempt == 2
    assert leases.renew([first]) == [first]  # the zombie learns it lost
    assert leases.renew([second]) == []
    with pytest.raises(LeaseLost):
        build_executor(container)._fenced(first, error="zombie write")
    assert container.runs.load(run_id).error is None


def test_renew_reports_a_lease_lost_only_when_the_run_left_its_holder(queued):
    # The heartbeat snapshots held leases, then renews them; a run finishing in between is refused but not lost
    # (it used to count as a lost lease under load, and paged through TrellisExpiredLeases).
    container, submit = queued
    finished, requeued = submit(), submit()
    leases = Leases(container.sessions, lease_seconds=0.1)
    done, reaped = leases.acquire(finished, "w"), leases.acquire(requeued, "w")
    assert done and reaped
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == finished, WorkflowRun.epoch == done.epoch)
                        .values(status="succeeded", lease_owner=None, lease_expires_at=None))
    time.sleep(0.2)
    assert leases.reap(max_attempts=3, max_seconds=1200, requeue_after=60).requeued == [requeued]
    assert leases.renew([done, reaped]) == [reaped]


def build_executor(container):
    from worker.runtime import build_runtime

    return build_runtime(container).executor


def test_reaper_requeues_expired_and_lost_runs_and_fails_poison_pills(queued):
    container, submit = queued
    expired, lost, poison = submit(), submit(), submit()
    leases = Leases(container.sessions, lease_seconds=0.1)
    leases.acquire(expired, "dead-worker")
    poisoned = leases.acquire(poison, "dead-worker")
    assert poisoned is not None
    past = utcnow() - timedelta(minutes=10)
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == lost).values(enqueued_at=past))
        session.execute(update(WorkflowRun).where(WorkflowRun.id == poison).values(attempts=3))
    time.sleep(0.2)
    report = leases.reap(max_attempts=3, max_seconds=1200, requeue_after=60)
    assert sorted(report.requeued) == sorted([expired, lost])
    assert report.failed == [poison]
    assert container.runs.load(expired).status == "queued"
    failed = container.runs.load(poison)
    assert failed.status == "failed" and "attempts" in failed.error
    # A second sweep finds nothing: the requeued runs are fresh again.
    assert leases.reap(max_attempts=3, max_seconds=1200, requeue_after=60).requeued == []


def test_reaper_fails_runs_past_the_execution_limit(queued):
    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=0.05)
    leases.acquire(run_id, "w")
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id)
                        .values(started_at=utcnow() - timedelta(hours=1)))
    time.sleep(0.1)
    report = leases.reap(max_attempts=3, max_seconds=1200, requeue_after=60)
    assert report.failed == [run_id]
    assert "Max execution time" in container.runs.load(run_id).error


def test_release_hands_the_run_back_and_fences_the_releaser(queued):
    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=30)
    lease = leases.acquire(run_id, "w1")
    leases.release(lease)
    assert container.runs.load(run_id).status == "queued"
    again = leases.acquire(run_id, "w2")
    assert again is not None and again.epoch > lease.epoch + 1


def _request_stop(container, run_id):
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(stop_requested=True))


def test_acquire_refuses_a_run_whose_stop_was_requested(queued):
    container, submit = queued
    waiting, abandoned = submit(), submit()
    leases = Leases(container.sessions, lease_seconds=0.05)
    _request_stop(container, waiting)
    assert leases.acquire(waiting, "w") is None
    assert leases.acquire(abandoned, "dead") is not None
    _request_stop(container, abandoned)
    time.sleep(0.1)  # the lease expired, but a stopped run is not taken over either
    assert leases.acquire(abandoned, "w") is None
    assert container.runs.load(waiting).status == "queued"


def test_renew_extends_the_lease_it_holds(queued):
    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=0.3)
    lease = leases.acquire(run_id, "w")
    for _ in range(3):  # renewed past three times its ttl: nobody can take it over meanwhile
        time.sleep(0.15)
        assert leases.renew([lease]) == []
        assert leases.acquire(run_id, "thief") is None


def test_the_heartbeat_stops_holding_a_lease_it_was_told_it_lost(queued):
    from worker.leases import LeaseKeeper

    container, submit = queued
    lost_run, kept_run = submit(), submit()
    leases = Leases(container.sessions, lease_seconds=0.1)
    keeper = LeaseKeeper(leases, interval=60)
    lost, kept = leases.acquire(lost_run, "me"), leases.acquire(kept_run, "me")
    keeper.track(lost)
    keeper.track(kept)
    time.sleep(0.15)
    thief = leases.acquire(lost_run, "other")
    assert thief is not None
    keeper.beat()
    assert keeper.held() == [kept]
    # The next beats renew only what is still held: the thief's lease is not extended on our behalf.
    leases.renew([thief])
    keeper.beat()
    assert keeper.held() == [kept]


def test_every_write_of_a_fenced_holder_is_refused(queued):
    from app.engine.state import NodeRecord, NodeStatus, RunOutcome, RunStatus
    from app.models import NodeExecution
    from app.services.event_batcher import EventBatcher
    from app.services.execution import RunBatch

    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=0.05)
    stale = leases.acquire(run_id, "old")
    time.sleep(0.1)
    fresh = leases.acquire(run_id, "new")
    assert fresh is not None
    executor = build_executor(container)
    batch = RunBatch(EventBatcher(container.events, run_id))
    record = NodeRecord(execution_id="n-1", node_id="llm", node_type="llm", title="LLM", index=1,
                        predecessor_node_id=None, status=NodeStatus.succeeded, inputs={}, process_data={},
                        outputs={"text": "zombie"}, total_tokens=7)
    with pytest.raises(LeaseLost):
        executor._checkpoint(stale, batch, record)
    outcome = RunOutcome(status=RunStatus.succeeded, outputs={"text": "zombie"}, error=None, total_tokens=7,
                         total_steps=1)
    assert executor._finish(stale, batch, stale.run, outcome) is None
    with container.sessions() as session:
        assert session.query(NodeExecution).filter_by(run_id=run_id).count() == 0
    run = container.runs.load(run_id)
    assert run.status == "running" and run.outputs in (None, {}) and (run.total_tokens or 0) == 0


def _row(container, run_id):
    with container.sessions() as session:
        return session.get(WorkflowRun, run_id)


def test_release_touches_only_its_own_running_attempt(queued):
    container, submit = queued
    mine, other = submit(), submit()
    leases = Leases(container.sessions, lease_seconds=30)
    lease, theirs = leases.acquire(mine, "w1"), leases.acquire(other, "w2")
    before = utcnow()
    leases.release(lease)
    row = _row(container, mine)
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("queued", None, None)
    assert row.epoch == lease.epoch + 1
    assert row.enqueued_at is not None and abs((row.enqueued_at.replace(tzinfo=None)
                                                 - before.replace(tzinfo=None)).total_seconds()) < 5
    untouched = _row(container, other)
    assert (untouched.status, untouched.lease_owner, untouched.epoch) == ("running", "w2", theirs.epoch)
    # A stale lease releases nothing, and neither does a lease on a run that already finished.
    again = leases.acquire(mine, "w3")
    leases.release(lease)
    assert _row(container, mine).lease_owner == "w3"
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == mine).values(status="succeeded"))
    leases.release(again)
    assert _row(container, mine).status == "succeeded"


def test_the_reaper_leaves_live_and_final_runs_alone(queued):
    container, submit = queued
    live, done, claimed_late = submit(), submit(), submit()
    leases = Leases(container.sessions, lease_seconds=60)
    leases.acquire(live, "w")
    leases.acquire(claimed_late, "w")
    past = utcnow() - timedelta(hours=1)
    with transaction(container.sessions) as session:
        # Finished long ago under an expired lease; running under a live lease but enqueued an hour ago.
        session.execute(update(WorkflowRun).where(WorkflowRun.id == done).values(
            status="succeeded", lease_expires_at=past, enqueued_at=past))
        session.execute(update(WorkflowRun).where(WorkflowRun.id == claimed_late).values(enqueued_at=past))
    report = leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60)
    assert report.requeued == [] and report.failed == []
    assert [_row(container, r).status for r in (live, done, claimed_late)] == ["running", "succeeded", "running"]


def test_reaper_boundaries_are_strict(queued):
    """A lease that expires exactly now, a message exactly `requeue_after` old and a run exactly `max_seconds`
    old are all still within their limits."""
    container, submit = queued
    expiring, waiting, old = submit(), submit(), submit()
    now = utcnow().replace(microsecond=0)
    clock = [now]
    leases = Leases(container.sessions, lease_seconds=30, clock=lambda: clock[0])
    leases.acquire(expiring, "w")
    leases.acquire(old, "w")
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == expiring).values(lease_expires_at=now))
        session.execute(update(WorkflowRun).where(WorkflowRun.id == waiting).values(
            enqueued_at=now - timedelta(seconds=60)))
        session.execute(update(WorkflowRun).where(WorkflowRun.id == old).values(
            lease_expires_at=now - timedelta(seconds=1), started_at=now - timedelta(seconds=600)))
    report = leases.reap(max_attempts=3, max_seconds=600, requeue_after=60)
    assert report.requeued == [old] and report.failed == []
    clock[0] = now + timedelta(seconds=1)
    report = leases.reap(max_attempts=3, max_seconds=600, requeue_after=60)
    assert sorted(report.requeued) == sorted([expiring, waiting])


def test_the_heartbeat_logs_each_lost_lease_with_its_run_and_epoch(queued, caplog):
    import logging

    from worker.leases import LeaseKeeper

    container, submit = queued
    run_id = submit()
    leases = Leases(container.sessions, lease_seconds=0.05)
    keeper = LeaseKeeper(leases, interval=60)
    lost = leases.acquire(run_id, "me")
    keeper.track(lost)
    time.sleep(0.1)
    leases.acquire(run_id, "other")
    with caplog.at_level(logging.WARNING, logger="worker.leases"):
        keeper.beat()
    [record] = [r for r in caplog.records if r.name == "worker.leases"]
    assert record.getMessage() == "lease lost"
    assert (record.run_id, record.epoch) == (run_id, lost.epoch)


def test_reapers_skip_rows_another_reaper_holds(postgres_url, make_settings):
    """Postgres: a row locked by another sweep is skipped at once (SKIP LOCKED), not waited for."""
    container = build_test_container(make_settings(database_url=postgres_url))
    try:
        workspace = container.accounts.default_workspace_id()
        app = container.apps.import_dsl(workspace, HELLO)
        run_id = container.runs.submit(AppPrincipal(workspace, app.id, "k"), {"name": "Ada"}, "u", "streaming").run_id
        container.huey.immediate = False
        with transaction(container.sessions) as session:
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(
                status="queued", enqueued_at=utcnow() - timedelta(hours=1)))
        leases = Leases(container.sessions, lease_seconds=30)
        with container.sessions() as other, other.begin():
            other.execute(select(WorkflowRun.id).where(WorkflowRun.id == run_id).with_for_update())
            assert leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60).requeued == []
        assert leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60).requeued == [run_id]
    finally:
        container.close()
