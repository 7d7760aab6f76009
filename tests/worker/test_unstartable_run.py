"""Issue 14, attack 8 behind the edge: a run whose data the worker cannot store crashed on every attempt while
its blocking caller waited, unanswered, for three lost leases. A crash another attempt would only repeat must end
the run `failed` with its reason at once, and its followers must hear `workflow_finished`."""

from __future__ import annotations

from tests.conftest import SAMPLES, app_key, import_app
from worker.tasks import transient

HELLO = (SAMPLES / "hello.yml").read_text()


def test_a_run_the_worker_cannot_store_ends_failed_with_its_reason(client, container):
    headers = app_key(client, import_app(client, HELLO))
    who = container.accounts.authenticate_app_key(headers["Authorization"].split(" ", 1)[1])
    # Past the HTTP edge (which now refuses it): a lone surrogate the worker's first insert cannot encode.
    ticket = container.runs.submit(who, {"name": "Ada \ud800"}, "u", "blocking")
    data = container.runs.wait_finished(ticket.run_id, timeout=10)
    assert data["status"] == "failed"
    assert "could not be executed" in data["error"] and "Unicode" in data["error"]
    run = container.runs.load(ticket.run_id)
    assert run.status == "failed" and run.finished_at is not None and run.attempts == 1


def test_backend_outages_are_left_to_the_reaper():
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import OperationalError

    assert transient(RedisConnectionError("down"))
    assert transient(OperationalError("select 1", {}, Exception("server closed the connection")))
    assert not transient(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert not transient(ValueError("bad data"))
    from app.errors import InvalidParam, ProviderRequestError

    assert transient(ProviderRequestError("model timed out")) and not transient(InvalidParam("bad"))
