"""Traces reach a real Arize Phoenix: a run through the production path (gunicorn API + worker processes on
Postgres + Redis) becomes one trace that Phoenix stores and gives back, with every span under the right
parent and the GenAI token counts equal to the run's own `llm_calls`; a worker killed mid-run still yields
one trace, with the retry marked.

Phoenix (`arize-phoenix`, SQLite) runs in its own virtualenv, outside the app's pins: PHOENIX_VENV, else
`~/.cache/trellis-phoenix/venv`, created on first use. The test skips, saying why, when it cannot be installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import flows
from bench.llm_server import StubLLMServer
from bench.stack import Stack, free_port, running_stack
from tests.integration.test_stack import ADMIN, provision
from tests.trace_flows import traced_flow

# The first test's setup may install Phoenix into its own venv (minutes on a busy machine; cached after).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

PHOENIX_VERSION = "20.26.1"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


def phoenix_venv() -> Path:
    venv = Path(os.environ.get("PHOENIX_VENV") or Path.home() / ".cache" / "trellis-phoenix" / "venv")
    if (venv / "bin" / "phoenix").exists():
        return venv
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        f"arize-phoenix=={PHOENIX_VERSION}"], check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"arize-phoenix=={PHOENIX_VERSION} could not be installed in {venv}: {exc}")
    return venv


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    venv = phoenix_venv()
    home = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(home), "PHOENIX_PORT": str(port), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_GRPC_PORT": str(free_port())}
    with open(home / "phoenix.log", "wb") as log:
        proc = subprocess.Popen([str(venv / "bin" / "phoenix"), "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/v1/projects", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Phoenix did not start: {(home / 'phoenix.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def traced_stack(request: pytest.FixtureRequest, tmp_path: Path, llm_server: StubLLMServer,
                 phoenix: str) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test",
           "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix, "OTEL_BSP_SCHEDULE_DELAY": "100",
           "OTEL_SERVICE_NAME": "trellis-test", "LEASE_SECONDS": "2", "REAPER_INTERVAL_SECONDS": "0.5",
           "WORKER_DRAIN_SECONDS": "0.5", "DATABASE_URL": request.getfixturevalue("postgres_url"),
           "REDIS_URL": request.getfixturevalue("services").redis_url, "HUEY_NAME": f"trace-{uuid.uuid4().hex[:8]}"}
    with running_stack(tmp_path / "home", env, workers=1) as stack:
        yield stack


def trace_spans(phoenix: str, trace_id: str, until: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """The spans Phoenix holds for `trace_id`, once `until(spans)` holds."""
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{phoenix}/v1/projects/default/spans", params=params, timeout=10).json()
            spans += [s for s in page["data"] if s["context"]["trace_id"] == trace_id]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if until(spans):
            return spans
        time.sleep(0.5)
    raise AssertionError(f"Phoenix has {len(spans)} spans of trace {trace_id}: {[s['name'] for s in spans]}")


def has_root(spans: list[dict[str, Any]]) -> bool:
    return any(s["name"] == "workflow_run" for s in spans)


def node_span(spans: list[dict[str, Any]], node_id: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["attributes"].get("trellis.node.id") == node_id]


def test_a_run_through_the_stack_is_one_trace_in_phoenix(traced_stack: Stack, phoenix: str,
                                                         llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 0.05
    with httpx.Client(base_url=traced_stack.base_url, timeout=60) as client:
        headers = provision(client, traced_flow())
        body = {"inputs": {"q": "why", "items": ["a", "b", "c"]}, "response_mode": "blocking", "user": "u1"}
        response = client.post("/v1/workflows/run", json=body, headers={
            **headers, "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
    assert data["status"] == "succeeded", data
    run_id = response.json()["workflow_run_id"]
    calls = traced_stack.query("SELECT prompt_tokens, completion_tokens, model FROM llm_calls WHERE run_id = :id",
                               {"id": run_id})
    spans = trace_spans(phoenix, CLIENT_TRACE, lambda s: has_root(s) and len(node_span(s, "ask")) == 3)
    by_id = {s["context"]["span_id"]: s for s in spans}
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    [root] = [s for s in spans if s["name"] == "workflow_run"]
    assert root["parent_id"] == CLIENT_SPAN  # the client's span, from its traceparent
    assert root["attributes"]["trellis.run.id"] == run_id
    assert root["attributes"]["trellis.run.total_tokens"] == data["total_tokens"]
    for node_id in ("start", "llm1", "it", "end"):
        [span] = node_span(spans, node_id)
        assert span["parent_id"] == root["context"]["span_id"], node_id
    # The LLM node and the iteration ran side by side (parallel branches): their spans overlap in time.
    [llm1], [it] = node_span(spans, "llm1"), node_span(spans, "it")
    assert llm1["start_time"] < it["end_time"] and it["start_time"] < llm1["end_time"]
    asks = node_span(spans, "ask")
    assert {a["parent_id"] for a in asks} == {it["context"]["span_id"]}
    assert sorted(a["attributes"]["trellis.iteration.index"] for a in asks) == [0, 1, 2]
    chats = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 4 == len(calls)
    assert sorted(by_id[c["parent_id"]]["attributes"]["trellis.node.id"] for c in chats) == [
        "ask", "ask", "ask", "llm1"]
    assert sorted((c["attributes"]["gen_ai.usage.input_tokens"], c["attributes"]["gen_ai.usage.output_tokens"],
                   c["attributes"]["gen_ai.request.model"]) for c in chats) == sorted(tuple(row) for row in calls)
    assert sum(c["attributes"]["gen_ai.usage.input_tokens"] + c["attributes"]["gen_ai.usage.output_tokens"]
               for c in chats) == data["total_tokens"]
    assert all(c["span_kind"] == "LLM" and c["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
               for c in chats)
    assert not any("input.value" in s["attributes"] for s in spans)  # TRACE_CONTENT is off by default


def test_a_worker_killed_mid_run_leaves_one_trace_with_the_retry_marked(traced_stack: Stack, phoenix: str,
                                                                        llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 1.0
    trace_id = uuid.uuid4().hex
    with httpx.Client(base_url=traced_stack.base_url, timeout=60) as client:
        headers = provision(client, flows.two_llm_flow())
        body = {"inputs": {"q": "durable"}, "response_mode": "streaming", "user": "u1"}
        with client.stream("POST", "/v1/workflows/run", json=body,
                           headers={**headers, "X-Trace-Id": trace_id}) as response:
            for line in response.iter_lines():
                event = json.loads(line[6:]) if line.startswith("data: ") else {}
                if event.get("event") == "node_finished" and event["data"].get("node_id") == "first":
                    run_id = event["workflow_run_id"]
                    break
        time.sleep(0.3)  # the second LLM call is in flight; the first node's span has been exported
        traced_stack.workers[0].send_signal(signal.SIGKILL)
        traced_stack.workers[0].wait()
        traced_stack.start_worker()
        deadline = time.monotonic() + 40
        while client.get(f"/v1/workflows/run/{run_id}", headers=headers).json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    spans = trace_spans(phoenix, trace_id, has_root)
    [root] = [s for s in spans if s["name"] == "workflow_run"]
    assert root["parent_id"] is None and root["attributes"]["trellis.external_trace_id"] == trace_id
    assert root["attributes"]["trellis.run.attempts"] == 2 and root["attributes"]["trellis.run.status"] == "succeeded"
    [resume] = [s for s in spans if s["name"] == "workflow_run.resume"]
    assert resume["parent_id"] == root["context"]["span_id"]
    assert resume["attributes"]["trellis.run.attempt"] == 2 and resume["attributes"]["trellis.run.resumed"] is True
    nodes = [s for s in spans if "trellis.node.id" in s["attributes"]]
    assert {s["parent_id"] for s in nodes} == {root["context"]["span_id"]}
    [second] = node_span(spans, "second")  # the interrupted node's span is the retry's, marked as such
    assert second["attributes"]["trellis.run.resumed"] is True and second["attributes"]["trellis.run.attempt"] == 2
    assert [s["attributes"].get("trellis.run.attempt") for s in node_span(spans, "first")] in ([], [1])
