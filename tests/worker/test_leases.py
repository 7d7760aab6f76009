"""The worker's lease threads on a real (SQLite) runs table with a frozen clock: the heartbeat renews what it
holds and gives up what it lost; the reaper re-queues, fails and reports, honours paused queues, and both
threads keep going after a failed pass and stop when told."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import create_engine

from app.db import make_session_factory
from app.metrics import metrics
from app.models.base import as_utc
from app.services.leases import Lease, Leases
from tests.run_table import RunTable
from worker.leases import LeaseKeeper, Reaper


def _sample(name: str, **labels: str) -> float:
    metrics()  # registered on first use
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def _claimed(run_table: RunTable, frozen_leases: Leases) -> Lease:
    lease = frozen_leases.acquire(run_table.add(), "me")
    assert lease is not None
    return lease


# The heartbeat


def test_a_beat_extends_every_held_lease_from_the_time_of_the_beat(run_table, frozen_leases, clock):
    first, second = _claimed(run_table, frozen_leases), _claimed(run_table, frozen_leases)
    keeper = LeaseKeeper(frozen_leases, interval=10)
    keeper.track(first)
    keeper.track(second)
    clock.advance(20)
    beats = _sample("trellis_worker_heartbeats_total")
    before = time.time()
    keeper.beat()
    for lease in (first, second):
        assert as_utc(run_table.row(lease.run_id).lease_expires_at) == clock.now + timedelta(seconds=30)
    assert _sample("trellis_worker_heartbeats_total") == beats + 1
    assert before <= _sample("trellis_worker_last_heartbeat_timestamp_seconds") <= time.time()
    assert sorted(keeper.held(), key=lambda lease: lease.run_id) == sorted([first, second],
                                                                             key=lambda lease: lease.run_id)


def test_a_beat_gives_up_each_lost_lease_and_counts_it(run_table, frozen_leases, clock, caplog):
    taken, requeued, finished, kept = (_claimed(run_table, frozen_leases) for _ in range(4))
    keeper = LeaseKeeper(frozen_leases, interval=10)
    for lease in (taken, requeued, finished, kept):
        keeper.track(lease)
    run_table.set(taken.run_id, epoch=taken.epoch + 1, lease_owner="thief")
    run_table.set(requeued.run_id, status="queued", lease_owner=None)
    run_table.set(finished.run_id, status="succeeded", lease_owner=None)  # done, not lost
    lost = _sample("trellis_leases_lost_total")
    with caplog.at_level(logging.WARNING, logger="worker.leases"):
        keeper.beat()
    assert _sample("trellis_leases_lost_total") == lost + 2
    assert sorted(keeper.held(), key=lambda lease: lease.run_id) == sorted([finished, kept],
                                                                             key=lambda lease: lease.run_id)
    logged = sorted((r.getMessage(), r.run_id, r.epoch) for r in caplog.records if r.name == "worker.leases")
    assert logged == sorted([("lease lost", taken.run_id, taken.epoch), ("lease lost", requeued.run_id,
                                                                          requeued.epoch)])
    # Nothing is renewed on behalf of a lease given up, even when it would match again.
    run_table.set(requeued.run_id, status="running", lease_expires_at=clock.now)
    clock.advance(5)
    keeper.beat()
    assert as_utc(run_table.row(requeued.run_id).lease_expires_at) == clock.now - timedelta(seconds=5)
    assert as_utc(run_table.row(kept.run_id).lease_expires_at) == clock.now + timedelta(seconds=30)


def test_tracking_is_per_run_and_untracking_an_unknown_lease_is_harmless(run_table, frozen_leases):
    lease = _claimed(run_table, frozen_leases)
    keeper = LeaseKeeper(frozen_leases, interval=10)
    assert keeper.held() == []
    keeper.untrack(lease)  # never tracked
    keeper.track(lease)
    newer = Lease(lease.run_id, "me", lease.epoch + 1, lease.attempt + 1)
    keeper.track(newer)
    assert keeper.held() == [newer]
    keeper.held().clear()  # a snapshot, not the keeper's own table
    assert keeper.held() == [newer]
    keeper.untrack(lease)
    assert keeper.held() == []


def test_the_heartbeat_thread_beats_every_interval_until_stopped(run_table, frozen_leases, clock):
    lease = _claimed(run_table, frozen_leases)
    keeper = LeaseKeeper(frozen_leases, interval=0.01)
    keeper.track(lease)
    clock.advance(20)
    beats = _sample("trellis_worker_heartbeats_total")
    keeper.start()
    thread = keeper._thread
    assert thread is not None and thread.daemon and thread.name == "lease-heartbeat"
    assert _eventually(lambda: _sample("trellis_worker_heartbeats_total") >= beats + 3)
    assert as_utc(run_table.row(lease.run_id).lease_expires_at) == clock.now + timedelta(seconds=30)
    keeper.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()


def test_a_failed_beat_is_logged_and_the_next_one_still_comes(tmp_path, caplog):
    # A database without the runs table: every renewal raises, as during a database outage.
    broken = Leases(make_session_factory(create_engine(f"sqlite:///{tmp_path / 'empty.db'}")), lease_seconds=30)
    keeper = LeaseKeeper(broken, interval=0.01)
    keeper.track(Lease("r-1", "me", 1, 1))
    beats = _sample("trellis_worker_heartbeats_total")
    with caplog.at_level(logging.ERROR, logger="worker.leases"):
        keeper.start()
        assert _eventually(lambda: _sample("trellis_worker_heartbeats_total") >= beats + 3)
        keeper.stop()
        assert keeper._thread is not None
        keeper._thread.join(timeout=2)
    failures = [r for r in caplog.records if r.name == "worker.leases"]
    assert failures and all(r.getMessage() == "lease heartbeat failed" and r.exc_info for r in failures)
    assert keeper.held() == [Lease("r-1", "me", 1, 1)]  # an error is not a lost lease


# The reaper


class Calls:
    def __init__(self) -> None:
        self.enqueued: list[str] = []
        self.failed: list[str] = []
        self.documents = 0

    def sweep_documents(self) -> None:
        self.documents += 1


def _reaper(frozen_leases: Leases, calls: Calls, **options: object) -> Reaper:
    values: dict[str, object] = {"interval": 10, "max_attempts": 3, "max_seconds": 600, "requeue_after": 60}
    values.update(options)
    return Reaper(frozen_leases, calls.enqueued.append, calls.failed.append, documents=calls.sweep_documents,
                  **values)  # type: ignore[arg-type]


def test_a_sweep_requeues_fails_and_reports_what_it_swept(run_table, frozen_leases, clock, caplog):
    expired, poison, old, live = (_claimed(run_table, frozen_leases) for _ in range(4))
    for lease in (expired, poison, old):
        run_table.set(lease.run_id, lease_expires_at=clock.now - timedelta(seconds=1))
    run_table.set(poison.run_id, attempts=3)
    run_table.set(old.run_id, started_at=clock.now - timedelta(seconds=601))
    calls = Calls()
    requeued, failed = (_sample("trellis_runs_reaped_total", outcome=o) for o in ("requeued", "failed"))
    with caplog.at_level(logging.WARNING, logger="worker.leases"):
        assert _reaper(frozen_leases, calls).sweep() == [expired.run_id]
    assert calls.enqueued == [expired.run_id]
    assert sorted(calls.failed) == sorted([poison.run_id, old.run_id])
    assert _sample("trellis_runs_reaped_total", outcome="requeued") == requeued + 1
    assert _sample("trellis_runs_reaped_total", outcome="failed") == failed + 2
    [record] = [r for r in caplog.records if r.name == "worker.leases"]
    assert (record.getMessage(), record.requeued, record.failed) == ("reaper swept runs", 1, 2)
    assert calls.documents == 1
    assert run_table.row(live.run_id).status == "running"


def test_a_sweep_that_finds_nothing_logs_nothing(run_table, frozen_leases, caplog):
    _claimed(run_table, frozen_leases)
    calls = Calls()
    with caplog.at_level(logging.WARNING, logger="worker.leases"):
        assert _reaper(frozen_leases, calls).sweep() == []
    assert calls.enqueued == calls.failed == [] and calls.documents == 1
    assert not [r for r in caplog.records if r.name == "worker.leases"]


def test_a_sweep_that_only_requeues_or_only_fails_is_logged_too(run_table, frozen_leases, clock, caplog):
    lost = run_table.add(enqueued_at=clock.now - timedelta(seconds=61))
    with caplog.at_level(logging.WARNING, logger="worker.leases"):
        assert _reaper(frozen_leases, Calls()).sweep() == [lost]
        run_table.set(lost, attempts=3, enqueued_at=clock.now - timedelta(seconds=61))
        assert _reaper(frozen_leases, Calls()).sweep() == []
    logged = [(r.getMessage(), r.requeued, r.failed) for r in caplog.records if r.name == "worker.leases"]
    assert logged == [("reaper swept runs", 1, 0), ("reaper swept runs", 0, 1)]


def test_an_empty_queue_means_a_queued_run_lost_its_message_after_a_short_grace(run_table, frozen_leases, clock):
    waiting = run_table.add(enqueued_at=clock.now - timedelta(seconds=30))

    def down() -> int:
        raise ConnectionError("queue unreachable")

    # The queue holds messages, or cannot be asked: the long threshold stands.
    for pending in (lambda: 1, down, None):
        calls = Calls()
        assert _reaper(frozen_leases, calls, pending=pending, requeue_after_when_empty=5).sweep() == []
    assert _reaper(frozen_leases, Calls(), pending=lambda: 0, requeue_after_when_empty=5).sweep() == [waiting]


def test_the_short_grace_of_an_empty_queue_is_five_seconds_by_default(run_table, frozen_leases, clock):
    at_the_limit = run_table.add(enqueued_at=clock.now - timedelta(seconds=5))
    past_it = run_table.add(enqueued_at=clock.now - timedelta(seconds=6))
    assert _reaper(frozen_leases, Calls(), pending=lambda: 0).sweep() == [past_it]
    assert run_table.row(at_the_limit).status == "queued"


def test_a_paused_runs_queue_keeps_its_queued_runs_but_still_reaps_dead_workers(run_table, frozen_leases, clock):
    waiting = run_table.add(enqueued_at=clock.now - timedelta(days=365))
    expired = _claimed(run_table, frozen_leases)
    run_table.set(expired.run_id, lease_expires_at=clock.now - timedelta(seconds=1))
    calls = Calls()
    reaper = _reaper(frozen_leases, calls, pending=lambda: 0, paused=lambda queue: queue == "runs")
    assert reaper.sweep() == [expired.run_id]
    assert run_table.row(waiting).status == "queued" and calls.failed == []
    assert calls.documents == 1  # only the runs queue is paused


def test_a_paused_indexing_queue_leaves_documents_alone(run_table, frozen_leases, clock):
    waiting = run_table.add(enqueued_at=clock.now - timedelta(seconds=61))
    calls = Calls()
    assert _reaper(frozen_leases, calls, paused=lambda queue: queue == "indexing").sweep() == [waiting]
    assert calls.documents == 0


def test_the_reaper_thread_sweeps_every_interval_survives_failures_and_stops(run_table, frozen_leases, caplog):
    calls = Calls()

    def flaky_documents() -> None:
        calls.documents += 1
        if calls.documents == 1:
            raise RuntimeError("object store down")

    reaper = Reaper(frozen_leases, calls.enqueued.append, calls.failed.append, interval=0.01, max_attempts=3,
                    max_seconds=600, requeue_after=60, documents=flaky_documents)
    others = set(threading.enumerate())
    with caplog.at_level(logging.ERROR, logger="worker.leases"):
        reaper.start()
        [thread] = [t for t in threading.enumerate() if t not in others]
        assert _eventually(lambda: calls.documents >= 3)
        reaper.stop()
    assert thread.name == "run-reaper"
    assert thread.daemon
    thread.join(timeout=2)
    assert not thread.is_alive()
    failures = [r for r in caplog.records if r.name == "worker.leases"]
    assert [r.getMessage() for r in failures] == ["reaper sweep failed"] and failures[0].exc_info
