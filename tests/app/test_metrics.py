"""Prometheus metrics after real runs through the API and the worker code: names, labels (route templates, app
ids, node types, models; never run ids), queue depth at scrape time, lease and reaper counters, knowledge
indexing and embeddings, and the multi-process aggregation used under gunicorn."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from app import create_app
from app.db import transaction
from app.models import DocumentSegment, WorkflowRun
from app.models.base import utcnow
from app.services.leases import Lease, Leases
from tests.conftest import ADMIN_HEADERS, app_key, build_test_container, fixture_dsl, import_app
from worker.leases import LeaseKeeper, Reaper

LLM_DSL = fixture_dsl("llm_workflow.yml")
ROOT = Path(__file__).resolve().parents[2]


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Type"].count("charset") == 1, response.headers["Content-Type"]
    samples = {}
    for family in text_string_to_metric_families(response.data.decode()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def run_llm(client, headers, query="tell me a joke"):
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"query": query}, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_http_run_node_and_llm_metrics_after_a_real_run(client, llm_server):
    app_id = import_app(client, LLM_DSL)
    headers = app_key(client, app_id)
    before = scrape(client)
    body = run_llm(client, headers)
    run_id = body["workflow_run_id"]
    client.get(f"/v1/workflows/run/{run_id}", headers=headers)
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("trellis_http_requests_total", method="POST", route="/v1/workflows/run", status="200") == 1
    assert delta("trellis_http_requests_total", method="GET", route="/v1/workflows/run/<run_id>", status="200") == 1
    assert delta("trellis_http_request_duration_seconds_count", method="POST", route="/v1/workflows/run") == 1
    assert value(after, "trellis_runs_finished_total", app=app_id, status="succeeded") == 1
    assert value(after, "trellis_run_duration_seconds_count", app=app_id) == 1
    assert delta("trellis_node_duration_seconds_count", node_type="llm", status="succeeded") == 1
    assert delta("trellis_node_duration_seconds_count", node_type="start", status="succeeded") == 1
    assert delta("trellis_queue_wait_seconds_count") == 1
    labels = {"app": app_id, "model": "gpt-3.5-turbo"}
    assert value(after, "trellis_llm_calls_total", provider="openai", outcome="success", **labels) == 1
    assert value(after, "trellis_llm_request_duration_seconds_count", **labels) == 1
    assert value(after, "trellis_llm_time_to_first_token_seconds_count", **labels) == 1
    sent = llm_server.chat_requests()[-1]
    prompt_words = sum(len(m["content"].split()) for m in sent["messages"])
    assert value(after, "trellis_llm_tokens_total", kind="prompt", **labels) == prompt_words
    answer_words = len(body["data"]["outputs"]["answer"].split())
    assert value(after, "trellis_llm_tokens_total", kind="completion", **labels) == answer_words
    assert value(after, "trellis_active_runs", app=app_id) == 0
    assert value(after, "trellis_worker_busy_slots") == 0
    # Scrape-time queue metrics and bounded cardinality: no run or task id appears in any label.
    assert ("trellis_queue_depth", frozenset({("state", "pending")})) in after
    assert value(after, "trellis_runs_by_status", status="queued") == 0
    text = client.get("/metrics").data.decode()
    assert run_id not in text and body["task_id"] not in text


def test_unmatched_routes_share_one_label(client):
    before = scrape(client)
    client.get("/v1/does-not-exist/abc")
    client.get("/v1/does-not-exist/def")
    after = scrape(client)
    key = ("trellis_http_requests_total", frozenset({"method": "GET", "route": "<unmatched>", "status": "404"}.items()))
    assert after[key] - before.get(key, 0.0) == 2


def test_lease_and_reaper_metrics(client, app_with_key, container):
    headers = app_with_key(LLM_DSL)
    run_id = run_llm(client, headers)["workflow_run_id"]
    leases = Leases(container.sessions, lease_seconds=30)
    before = scrape(client)
    keeper = LeaseKeeper(leases, interval=10)
    keeper.track(Lease(run_id, "ghost-worker", epoch=999, attempt=1))  # a finished run: the renewal is refused
    keeper.beat()
    with transaction(container.sessions) as session:  # a worker died holding the run
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(
            status="running", lease_owner="dead", lease_expires_at=utcnow() - timedelta(seconds=5), attempts=1))
    requeued: list[str] = []
    Reaper(leases, requeued.append, lambda _run: None, interval=10, max_attempts=3, max_seconds=1200,
           requeue_after=60).sweep()
    after = scrape(client)
    assert requeued == [run_id]
    assert value(after, "trellis_leases_lost_total") - value(before, "trellis_leases_lost_total") == 1
    assert value(after, "trellis_worker_heartbeats_total") - value(before, "trellis_worker_heartbeats_total") == 1
    assert value(after, "trellis_worker_last_heartbeat_timestamp_seconds") > 0
    reaped = ("trellis_runs_reaped_total", frozenset({("outcome", "requeued")}))
    assert after[reaped] - before.get(reaped, 0.0) == 1
    assert value(after, "trellis_runs_by_status", status="queued") == 1


def test_indexing_and_embedding_metrics_after_real_indexing(make_settings, llm_server):
    container = build_test_container(make_settings(
        embedding_model="text-embedding-3-small",
        pricing="models: {openai/text-embedding-3-small: {prompt: 1000, completion: 0}}"))
    client = create_app(container.settings, container).test_client()
    try:
        token = client.post("/manage/v1/datasets/api-keys", headers=ADMIN_HEADERS).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        dataset = client.post("/v1/datasets", headers=headers, json={"name": "kb", "indexing_technique":
                                                                     "high_quality"}).get_json()["id"]
        before = scrape(client)
        text = "\n".join(f"Clause {i}: parcels delayed past five days are refunded in full." for i in range(30))
        good = client.post(f"/v1/datasets/{dataset}/document/create-by-text", headers=headers, json={
            "name": "policy", "text": text, "process_rule": {"mode": "custom", "rules": {"segmentation": {
                "separator": "\n", "max_tokens": 60, "chunk_overlap": 0}}}})
        bad = client.post(f"/v1/datasets/{dataset}/document/create-by-file", headers=headers,
                          data={"file": (io.BytesIO(b"not a pdf at all"), "broken.pdf")},
                          content_type="multipart/form-data")
        assert good.status_code == 200 and bad.status_code == 200, (good.get_json(), bad.get_json())
        after = scrape(client)
        document = good.get_json()["document"]["id"]
        with container.sessions() as session:
            segments = session.scalar(select(func.count()).where(DocumentSegment.document_id == document))
    finally:
        container.close()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert segments > 5
    assert delta("trellis_documents_indexed_total", status="completed") == 1
    assert delta("trellis_documents_indexed_total", status="error") == 1
    assert delta("trellis_segments_indexed_total") == segments
    assert delta("trellis_indexing_duration_seconds_count", status="completed") == 1
    assert delta("trellis_indexing_duration_seconds_count", status="error") == 1
    # Embedding requests of the indexing: billed to no app, tokens as the endpoint counted them (one per word).
    sent = [r for r in llm_server.requests if r["path"].endswith("/embeddings")]
    tokens = sum(len(t.split()) for r in sent for t in r["input"])
    labels = {"app": "", "model": "text-embedding-3-small"}
    assert sent and delta("trellis_embedding_calls_total", outcome="success", **labels) == len(sent)
    assert delta("trellis_embedding_tokens_total", **labels) == tokens
    assert abs(delta("trellis_embedding_cost_total", currency="USD", **labels) - tokens * 1000 / 1e6) < 1e-9
    text_out = "\n".join(f"{k[0]} {sorted(k[1])}" for k in after)
    assert dataset not in text_out and document not in text_out  # bounded labels


WRITER = """
import sys
from app.metrics import metrics
m = metrics()
m.http_requests.labels("GET", "/health", "200").inc(int(sys.argv[1]))
m.active_runs.labels("app-1").inc(int(sys.argv[1]))
"""
READER = "import sys; from app.metrics import exposition; sys.stdout.write(exposition().decode())"


def test_multiprocess_mode_aggregates_every_process(tmp_path: Path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for n in ("2", "3"):
        subprocess.run([sys.executable, "-c", WRITER, n], env=env, check=True, cwd=ROOT, timeout=30)
    out = subprocess.run([sys.executable, "-c", READER], env=env, check=True, cwd=ROOT, timeout=30,
                         capture_output=True, text=True).stdout
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for f in text_string_to_metric_families(out) for s in f.samples}
    assert samples[("trellis_http_requests_total",
                    frozenset({"method": "GET", "route": "/health", "status": "200"}.items()))] == 5
    # A `livesum` gauge sums the per-process files (gunicorn's child_exit hook removes a dead worker's share).
    assert samples[("trellis_active_runs", frozenset({("app", "app-1")}))] == 5


RACE = """
import threading
from app.metrics import metrics
barrier, errors = threading.Barrier(8), []
def first_call():
    barrier.wait()
    try:
        metrics()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first_call) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(errors)
"""


def test_first_calls_from_many_threads_build_the_metrics_once(tmp_path: Path):
    # A gunicorn gthread worker's first requests arrive together; in multi-process mode every metric writes
    # files while it is built, so concurrent first calls used to register a name twice and answer 500.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", RACE], env=env, check=True, cwd=ROOT, timeout=60,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]", out
