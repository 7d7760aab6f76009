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
