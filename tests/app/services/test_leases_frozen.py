"""Leases on a private SQLite copy of the runs database (tests/run_table.py) with a frozen clock: every column
a claim, renew, release or reap writes, and each limit at its exact boundary. The races, the heartbeat and
fencing on both backends are in test_leases.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from app.db import transaction
from app.models import WorkflowRun
from app.models.base import as_utc
from app.services.leases import Lease, ReapReport


def test_a_claim_writes_its_owner_expiry_epoch_attempt_and_first_start(run_table, frozen_leases, clock):
    run_id = run_table.add()
    lease = frozen_leases.acquire(run_id, "w1")
    assert lease == Lease(run_id, "w1", 1, 1) and lease.started_now
    assert lease.run is not None and (lease.run.id, lease.run.lease_owner) == (run_id, "w1")
    row = run_table.row(run_id)
    assert (row.status, row.lease_owner, row.epoch, row.attempts) == ("running", "w1", 1, 1)
    assert as_utc(row.lease_expires_at) == clock.now + timedelta(seconds=30)
    assert as_utc(row.started_at) == clock.now
    started = clock.now
    clock.advance(31)
    again = frozen_leases.acquire(run_id, "w2")
    assert again == Lease(run_id, "w2", 2, 2) and not again.started_now  # a resume: checkpoints to restore
    assert again.run is not None and again.run.lease_owner == "w2"
    row = run_table.row(run_id)
    assert as_utc(row.started_at) == started and as_utc(row.lease_expires_at) == clock.now + timedelta(seconds=30)


def test_a_lease_expiring_exactly_now_is_still_held(run_table, frozen_leases, clock):
    run_id = run_table.add()
    assert frozen_leases.acquire(run_id, "w1")
    clock.advance(30)
    assert frozen_leases.acquire(run_id, "w2") is None
    clock.advance(1)
    assert frozen_leases.acquire(run_id, "w2") is not None


def test_only_queued_or_abandoned_runs_can_be_claimed(run_table, frozen_leases, clock):
    past = clock.now - timedelta(seconds=1)
    for status in ("succeeded", "failed", "stopped", "partial-succeeded"):
        assert frozen_leases.acquire(run_table.add(status=status, lease_expires_at=past), "w") is None
    assert frozen_leases.acquire(run_table.add(status="running", lease_expires_at=past), "w") is not None
    assert frozen_leases.acquire(run_table.add(stop_requested=True), "w") is None
    stopped = run_table.add(status="running", lease_expires_at=past, stop_requested=True)
    assert frozen_leases.acquire(stopped, "w") is None
    assert frozen_leases.acquire("no-such-run", "w") is None


def test_renew_extends_from_now_and_tells_lost_from_done(run_table, frozen_leases, clock):
    held, taken, requeued, finished, deleted = (frozen_leases.acquire(run_table.add(), "me") for _ in range(5))
    run_table.set(taken.run_id, epoch=taken.epoch + 1, lease_owner="thief")
    run_table.set(requeued.run_id, status="queued", lease_expires_at=None)
    run_table.set(finished.run_id, status="succeeded", lease_expires_at=None)
    with transaction(run_table.sessions) as session:
        session.execute(delete(WorkflowRun).where(WorkflowRun.id == deleted.run_id))
    thief_expiry = run_table.row(taken.run_id).lease_expires_at
    clock.advance(20)
    lost = frozen_leases.renew([held, taken, requeued, finished, deleted])
    assert lost == [taken, requeued, deleted]
    assert as_utc(run_table.row(held.run_id).lease_expires_at) == clock.now + timedelta(seconds=30)
    # Nothing but the holder's own running row is extended.
    assert run_table.row(taken.run_id).lease_expires_at == thief_expiry
    assert run_table.row(requeued.run_id).lease_expires_at is None
    assert run_table.row(finished.run_id).lease_expires_at is None
    assert frozen_leases.renew([]) == []


def test_release_queues_the_run_again_now_under_a_new_epoch(run_table, frozen_leases, clock):
    lease = frozen_leases.acquire(run_table.add(), "w1")
    clock.advance(7)
    frozen_leases.release(lease)
    row = run_table.row(lease.run_id)
    assert (row.status, row.lease_owner, row.lease_expires_at, row.epoch) == ("queued", None, None, 2)
    assert as_utc(row.enqueued_at) == clock.now


def test_reap_requeues_with_a_fresh_enqueue_time_and_fails_with_the_reason(run_table, frozen_leases, clock):
    past = clock.now - timedelta(seconds=1)
    expired = run_table.add(status="running", lease_owner="dead", lease_expires_at=past, attempts=2,
                            started_at=clock.now - timedelta(seconds=100))
    poison = run_table.add(status="running", lease_owner="dead", lease_expires_at=past, attempts=3,
                           started_at=clock.now - timedelta(seconds=100))
    old = run_table.add(status="running", lease_owner="dead", lease_expires_at=past, attempts=1,
                        started_at=clock.now - timedelta(seconds=601))
    report = frozen_leases.reap(max_attempts=3, max_seconds=600.0, requeue_after=60)
    assert report.requeued == [expired] and sorted(report.failed) == sorted([poison, old])
    row = run_table.row(expired)
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("queued", None, None)
    assert as_utc(row.enqueued_at) == clock.now
    for run_id, error in ((poison, "Run abandoned after 3 attempts (worker lost each time)."),
                          (old, "Max execution time 600s reached.")):
        row = run_table.row(run_id)
        assert (row.status, row.error, row.lease_owner) == ("failed", error, None)
        assert as_utc(row.finished_at) == clock.now


def test_a_run_never_started_ages_from_its_creation(run_table, frozen_leases, clock):
    long_ago = clock.now - timedelta(seconds=700)
    forgotten = run_table.add(created_at=long_ago, enqueued_at=long_ago)
    recent = run_table.add(created_at=clock.now - timedelta(seconds=500), enqueued_at=long_ago)
    report = frozen_leases.reap(max_attempts=3, max_seconds=600, requeue_after=60)
    assert report.failed == [forgotten] and report.requeued == [recent]
    assert run_table.row(forgotten).error == "Max execution time 600s reached."


def test_the_reaper_leaves_fresh_live_and_final_runs_alone(run_table, frozen_leases, clock):
    long_ago = clock.now - timedelta(hours=1)
    fresh = run_table.add(enqueued_at=clock.now - timedelta(seconds=59))
    live = run_table.add(status="running", lease_expires_at=clock.now + timedelta(seconds=1), enqueued_at=long_ago)
    done = run_table.add(status="succeeded", lease_expires_at=long_ago, enqueued_at=long_ago)
    report = frozen_leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60)
    assert report == ReapReport([], [])
    assert [run_table.row(r).status for r in (fresh, live, done)] == ["queued", "running", "succeeded"]


def test_one_sweep_takes_at_most_two_hundred_runs(run_table, frozen_leases, clock):
    long_ago = clock.now - timedelta(hours=1)
    with transaction(run_table.sessions) as session:
        session.add_all(WorkflowRun(id=f"run-{i:03}", task_id=f"task-{i:03}", workspace_id=run_table.workspace_id,
                                    app_id=run_table.apps["hello"][0], workflow_version_id=run_table.apps["hello"][1],
                                    inputs={}, status="queued", enqueued_at=long_ago, created_at=clock.now)
                        for i in range(201))
    assert len(frozen_leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60).requeued) == 200
    assert len(frozen_leases.reap(max_attempts=3, max_seconds=7200, requeue_after=60).requeued) == 1
