"""Idempotency keys, concurrency caps and per-key rate limits, through the Service API."""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import ADMIN, SAMPLES, app_key, build_test_container, import_app

HELLO = (SAMPLES / "hello.yml").read_text()
BODY = {"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u1"}


def test_same_idempotency_key_and_body_returns_the_same_run(client, app_with_key):
    headers = app_with_key(HELLO)
    keyed = {**headers, "Idempotency-Key": "order-42"}
    first = client.post("/v1/workflows/run", headers=keyed, json=BODY).get_json()
    again = client.post("/v1/workflows/run", headers=keyed, json=BODY).get_json()
    assert again["workflow_run_id"] == first["workflow_run_id"]
    assert again["data"]["outputs"] == first["data"]["outputs"] == {"greeting": "Hello, Ada!"}
    assert client.get("/v1/workflows/logs", headers=headers).get_json()["total"] == 1
    # A different key is a different run.
    other = client.post("/v1/workflows/run", headers={**headers, "Idempotency-Key": "order-43"}, json=BODY)
    assert other.get_json()["workflow_run_id"] != first["workflow_run_id"]


def test_reused_idempotency_key_with_another_body_is_409(client, app_with_key):
    headers = {**app_with_key(HELLO), "Idempotency-Key": "k1"}
    client.post("/v1/workflows/run", headers=headers, json=BODY)
    response = client.post("/v1/workflows/run", headers=headers, json={**BODY, "inputs": {"name": "Bob"}})
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def _queued_client(make_settings, **overrides):
    """An app whose runs stay queued: Huey is not in immediate mode and no consumer runs."""
    container = build_test_container(make_settings(**overrides))
    container.huey.immediate = False
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = app.test_client()
    return client, app_key(client, import_app(client, HELLO)), container


def test_concurrency_cap_answers_429_with_retry_after(make_settings):
    # The runs never start (no consumer), so each stream gives up after the short wait; their slots stay taken.
    client, headers, container = _queued_client(make_settings, max_active_runs_per_app=2, blocking_timeout_seconds=0.2)
    streaming = {**BODY, "response_mode": "streaming"}
    for _ in range(2):
        assert client.post("/v1/workflows/run", headers=headers, json=streaming).status_code == 200
    refused = client.post("/v1/workflows/run", headers=headers, json=streaming)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) >= 1
    # Stopping a queued run frees its slot at once (the cap counts rows, so nothing leaks).
    run_id = client.get("/v1/workflows/logs", headers=headers).get_json()["data"][0]["id"]
    task_id = container.runs.load(run_id).task_id
    client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=headers, json={"user": "u1"})
    assert client.post("/v1/workflows/run", headers=headers, json=streaming).status_code == 200
    container.close()


def test_rate_limit_per_key(make_settings):
    client, headers, container = _queued_client(make_settings, rate_limit_per_second=0.5, rate_limit_burst=2)
    assert client.get("/v1/info", headers=headers).status_code == 200
    assert client.get("/v1/info", headers=headers).status_code == 200
    limited = client.get("/v1/info", headers=headers)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    container.close()


def test_queue_down_means_503_and_nothing_left_queued(make_settings):
    client, headers, container = _queued_client(make_settings)

    def refuse(run_id: str) -> None:
        raise OSError("queue gone")

    working = container.queue._tasks
    container.queue._tasks = type("T", (), {"run_workflow": staticmethod(refuse)})()  # the queue's own edge
    keyed = {**headers, "Idempotency-Key": "retry-me"}
    response = client.post("/v1/workflows/run", headers=keyed, json=BODY)
    assert response.status_code == 503 and response.headers["Retry-After"]
    logs = client.get("/v1/workflows/logs", headers=headers).get_json()
    assert [entry["workflow_run"]["status"] for entry in logs["data"]] == ["failed"]
    # The refused request did not consume its key: the client's retry, once the queue is back, runs.
    container.queue._tasks = working
    container.huey.immediate = True
    retried = client.post("/v1/workflows/run", headers=keyed, json=BODY).get_json()
    assert retried["data"]["status"] == "succeeded"
    assert retried["workflow_run_id"] != logs["data"][0]["id"]
    container.close()


@pytest.mark.parametrize("key", ["x" * 256])
def test_overlong_idempotency_key_is_400(client, app_with_key, key):
    headers = {**app_with_key(HELLO), "Idempotency-Key": key}
    assert client.post("/v1/workflows/run", headers=headers, json=BODY).status_code == 400


def test_an_idempotency_key_belongs_to_its_app(client, app_with_key):
    # Two tenants pick the same key and body: each gets its own run, never the other's.
    first_headers, second_headers = app_with_key(HELLO), app_with_key(HELLO)
    first = client.post("/v1/workflows/run", headers={**first_headers, "Idempotency-Key": "same"}, json=BODY)
    second = client.post("/v1/workflows/run", headers={**second_headers, "Idempotency-Key": "same"}, json=BODY)
    assert first.get_json()["workflow_run_id"] != second.get_json()["workflow_run_id"]
    assert client.get("/v1/workflows/logs", headers=second_headers).get_json()["total"] == 1


def test_an_idempotency_key_expires_after_its_ttl(make_settings):
    import time

    container = build_test_container(make_settings(idempotency_ttl_seconds=0.5))
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = app.test_client()
    headers = {**app_key(client, import_app(client, HELLO)), "Idempotency-Key": "daily"}
    first = client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"]
    assert client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"] == first
    time.sleep(0.6)
    later = client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"]
    assert later != first
    # ... and the new run now owns the key.
    assert client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"] == later
    container.close()


def test_rate_limit_buckets_are_per_key_not_per_app(make_settings):
    client, headers, container = _queued_client(make_settings, rate_limit_per_second=0.1, rate_limit_burst=1)
    app_id = client.get("/v1/info", headers=headers)
    assert app_id.status_code == 200
    assert client.get("/v1/info", headers=headers).status_code == 429
    apps = client.get("/manage/v1/apps", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()
    app_ids = [a["id"] for a in (apps["data"] if isinstance(apps, dict) else apps)]
    other_key = app_key(client, app_ids[0])  # a second key of the same app has its own bucket
    assert client.get("/v1/info", headers=other_key).status_code == 200
    assert client.get("/v1/info", headers=other_key).status_code == 429
    container.close()


def test_memory_bucket_refills_at_its_rate_and_never_beyond_its_burst():
    import time

    from app.providers.ratelimit import MemoryRateLimiter

    limiter = MemoryRateLimiter(rate=20.0, burst=2)
    assert limiter.acquire("k") == 0 and limiter.acquire("k") == 0
    wait = limiter.acquire("k")
    assert 0 < wait <= 0.05 + 1e-9
    time.sleep(0.3)  # would refill 6 tokens, but the bucket holds 2
    assert limiter.acquire("k") == 0 and limiter.acquire("k") == 0
    assert limiter.acquire("k") > 0
    assert limiter.acquire("other") == 0


def test_the_request_hash_ignores_key_order_and_tells_bodies_apart():
    from app.services.admission import request_hash

    assert request_hash({"a": 1, "b": {"x": 1, "y": 2}}) == request_hash({"b": {"y": 2, "x": 1}, "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    assert request_hash({"q": "café"}) != request_hash({"q": "cafe"})


def test_a_key_reused_with_another_body_names_the_header(client, app_with_key):
    headers = {**app_with_key(HELLO), "Idempotency-Key": "k2"}
    client.post("/v1/workflows/run", headers=headers, json=BODY)
    body = client.post("/v1/workflows/run", headers=headers, json={**BODY, "user": "u2"}).get_json()
    assert body["message"] == "Idempotency-Key was already used with a different request body"
    assert body["params"] == "Idempotency-Key"


def test_a_key_exactly_as_old_as_its_ttl_still_replays(make_settings, monkeypatch):
    from datetime import timedelta

    import app.services.admission as module
    from app.models import WorkflowRun

    container = build_test_container(make_settings(idempotency_ttl_seconds=60))
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = app.test_client()
    headers = {**app_key(client, import_app(client, HELLO)), "Idempotency-Key": "edge"}
    first = client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"]
    with container.sessions() as session:
        created = session.get(WorkflowRun, first).created_at
    monkeypatch.setattr(module, "utcnow", lambda: module.as_utc(created) + timedelta(seconds=60))
    assert client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"] == first
    monkeypatch.setattr(module, "utcnow", lambda: module.as_utc(created) + timedelta(seconds=61))
    assert client.post("/v1/workflows/run", headers=headers, json=BODY).get_json()["workflow_run_id"] != first
    container.close()


# -- the Admission service itself, on the embedded database: caps and keys at their exact boundaries -------------

@pytest.fixture
def two_apps(container, client):
    """Two imported apps (ids); runs are written straight into their rows by `add_run`."""
    return import_app(client, HELLO), import_app(client, HELLO)


def add_run(container, app_id: str, status: str = "queued", key: str | None = None, body_hash: str | None = None,
            created_at=None) -> str:
    import uuid

    from app.models import App, WorkflowRun

    with container.sessions() as session:
        app = session.get(App, app_id)
        run = WorkflowRun(id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), workspace_id=app.workspace_id,
                          app_id=app_id, workflow_version_id=app.published_version_id, end_user_id=None,
                          status=status, idempotency_key=key, request_hash=body_hash)
        if created_at is not None:
            run.created_at = created_at
        session.add(run)
        session.commit()
        return run.id


def set_app_cap(container, app_id: str, cap: int) -> None:
    from app.models import App

    with container.sessions() as session:
        session.get(App, app_id).max_active_runs = cap
        session.commit()


def capacity(container, admission, app_id: str, app_cap: int | None = None) -> str | None:
    """None when one more run is admitted, else the refusal's message (after checking it is a 429)."""
    from app.errors import TooManyRequests

    with container.sessions() as session:
        try:
            admission.check_capacity(session, app_id, app_cap)
        except TooManyRequests as refused:
            assert (refused.status, refused.code, refused.retryable) == (429, "too_many_requests", True)
            return refused.message
    return None


def test_the_cap_admits_up_to_its_limit_and_refuses_at_it(container, two_apps):
    from app.services.admission import Admission

    first, second = two_apps
    admission = Admission(default_max_active_runs=2)
    assert capacity(container, admission, first) is None
    add_run(container, first)
    assert capacity(container, admission, first) is None  # one active, limit two
    add_run(container, first, status="running")
    assert capacity(container, admission, first) == ("This app already has 2 active runs (limit 2); retry when "
                                                      "one finishes.")
    # The other app's slots are its own.
    assert capacity(container, admission, second) is None


def test_only_queued_and_running_runs_take_a_slot(container, two_apps):
    from app.services.admission import Admission

    first, _ = two_apps
    admission = Admission(default_max_active_runs=1)
    for status in ("succeeded", "failed", "stopped", "partial-succeeded"):
        add_run(container, first, status=status)
    assert capacity(container, admission, first) is None
    add_run(container, first, status="running")
    assert "1 active runs (limit 1)" in (capacity(container, admission, first) or "")


def test_the_apps_own_cap_wins_over_the_default_and_is_read_from_its_row(container, two_apps):
    from app.services.admission import Admission

    first, second = two_apps
    set_app_cap(container, first, 1)
    admission = Admission(default_max_active_runs=3)
    add_run(container, first)
    add_run(container, second)
    # Read from the app's own row (not another app's): the first is full at one, the second has the default.
    assert "(limit 1)" in (capacity(container, admission, first) or "")
    assert capacity(container, admission, second) is None
    add_run(container, second)
    add_run(container, second)
    assert "3 active runs (limit 3)" in (capacity(container, admission, second) or "")
    # A cap the caller passes wins over the row.
    assert capacity(container, admission, first, app_cap=2) is None
    assert capacity(container, admission, first, app_cap=0) is None  # 0 passed: the default (3), not the row's 1


def test_no_cap_anywhere_admits_every_run(container, two_apps):
    from app.services.admission import Admission

    first, _ = two_apps
    for _ in range(3):
        add_run(container, first)
    assert capacity(container, Admission(), first) is None  # the default: unlimited
    assert capacity(container, Admission(default_max_active_runs=0), first, app_cap=0) is None
    assert capacity(container, Admission(default_max_active_runs=-1), first) is None
    set_app_cap(container, first, 4)
    assert capacity(container, Admission(), first) is None
    add_run(container, first)
    assert "4 active runs (limit 4)" in (capacity(container, Admission(), first) or "")


def replay(container, admission, app_id: str, key: str, body_hash: str | None):
    with container.sessions() as session:
        run = admission.replay(session, app_id, key, body_hash)
        session.commit()
        return None if run is None else run.id


def test_replay_finds_the_keys_run_of_this_app_only(container, two_apps):
    from app.errors import Conflict
    from app.services.admission import Admission, request_hash

    first, second = two_apps
    admission = Admission()
    body = request_hash({"inputs": {}, "user": "u"})
    run = add_run(container, first, key="k", body_hash=body)
    assert replay(container, admission, first, "k", body) == run
    assert replay(container, admission, first, "other-key", body) is None
    assert replay(container, admission, second, "k", body) is None  # the same key in another app is not ours
    with pytest.raises(Conflict) as info:
        replay(container, admission, first, "k", request_hash({"inputs": {}, "user": "v"}))
    assert (info.value.status, info.value.extra) == (409, {"params": "Idempotency-Key"})


def test_a_missing_hash_on_either_side_replays_without_conflict(container, two_apps):
    from app.services.admission import Admission

    first, _ = two_apps
    admission = Admission()
    unhashed = add_run(container, first, key="old")
    assert replay(container, admission, first, "old", "b" * 64) == unhashed
    hashed = add_run(container, first, key="new", body_hash="a" * 64)
    assert replay(container, admission, first, "new", None) == hashed


def test_a_key_lives_exactly_its_ttl_and_then_only_its_run_lets_go(container, two_apps, monkeypatch):
    from datetime import timedelta

    import app.services.admission as module
    from app.models import WorkflowRun
    from app.models.base import utcnow

    first, second = two_apps
    born = utcnow() - timedelta(days=3)
    mine = add_run(container, first, key="k", created_at=born)
    theirs = add_run(container, second, key="k", created_at=born)
    admission = module.Admission(idempotency_ttl_seconds=90)
    monkeypatch.setattr(module, "utcnow", lambda: born + timedelta(seconds=90))
    assert replay(container, admission, first, "k", None) == mine
    monkeypatch.setattr(module, "utcnow", lambda: born + timedelta(seconds=90, microseconds=1))
    assert replay(container, admission, first, "k", None) is None
    with container.sessions() as session:
        assert session.get(WorkflowRun, mine).idempotency_key is None  # released for the next request
        assert session.get(WorkflowRun, theirs).idempotency_key == "k"  # another app's key is untouched
    add_run(container, first, key="k")  # the key can be taken again


def test_the_default_ttl_is_one_day(container, two_apps, monkeypatch):
    from datetime import timedelta

    import app.services.admission as module
    from app.models.base import utcnow

    first, _ = two_apps
    born = utcnow() - timedelta(days=3)
    run = add_run(container, first, key="k", created_at=born)
    monkeypatch.setattr(module, "utcnow", lambda: born + timedelta(days=1))
    assert replay(container, module.Admission(), first, "k", None) == run
    monkeypatch.setattr(module, "utcnow", lambda: born + timedelta(days=1, microseconds=1))
    assert replay(container, module.Admission(), first, "k", None) is None


def test_the_request_hash_is_sha256_of_the_sorted_json_and_accepts_any_value():
    import datetime as dt
    import hashlib

    from app.services.admission import request_hash

    # The hashes are stored with the runs: the same body must hash the same after an upgrade.
    digest = request_hash({"b": 1, "a": "é"})
    assert digest == hashlib.sha256('{"a": "é", "b": 1}'.encode()).hexdigest() and len(digest) == 64
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert request_hash({"at": when}) == request_hash({"at": str(when)})  # not JSON: hashed as its text
