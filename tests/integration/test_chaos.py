"""A reduced `make chaos`: runs through 2 APIs and 3 workers while workers are SIGKILLed and SIGTERMed, Redis
restarts empty and an API restarts. Nothing accepted may be lost, stuck or executed twice."""

from __future__ import annotations

import shutil

import pytest

from bench.chaos import run_chaos, run_clients_only

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server for a private, restartable Redis")
def test_no_run_lost_stuck_or_duplicated_under_faults(services, tmp_path):
    report = run_chaos(runs=40, kills=2, every=1.5, rate=4.0, llm_latency=0.3, home=tmp_path / "cluster")
    assert report.worker_kills == 2 and report.redis_restarts == 1 and report.api_restarts == 1
    assert report.submitted == 40
    assert (report.lost, report.stuck, report.duplicated) == (0, 0, 0), report.table()
    assert report.failed == 0, report.table()
    assert report.max_nodes_recalled <= 1, report.table()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server for a private, restartable Redis")
def test_connected_clients_are_never_told_an_error_for_a_run_that_succeeds(services, tmp_path):
    """Issue 14, attack 5 end to end: blocking and streaming clients stay connected through a Redis restart
    (empty) and a worker SIGKILL; none is answered 503 or loses its stream for a run that succeeds."""
    report = run_clients_only(clients=12, llm_latency=0.6, home=tmp_path / "cluster")
    assert report.redis_restarts == 1 and report.worker_kills == 1
    assert (report.lost, report.stuck, report.told_error_but_succeeded) == (0, 0, 0), \
        report.table() + "\n" + "\n".join(report.errors)
    assert report.succeeded + report.refused == report.clients, report.table()
