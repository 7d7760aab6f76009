"""A run survives its worker: SIGKILL mid-run resumes from the last checkpoint on another worker without
repeating finished LLM nodes; SIGTERM hands the run over at once. Real processes, embedded and on
Postgres + Redis."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import flows
from bench.llm_server import StubLLMServer
from bench.stack import Stack, running_stack
from tests.integration.test_stack import ADMIN, provision

pytestmark = pytest.mark.integration


def two_llm_dsl() -> str:
    return flows.two_llm_flow()


@pytest.fixture(params=["embedded", "postgres+redis"])
def durable_stack(request, tmp_path: Path, llm_server: StubLLMServer) -> Iterator[Stack]:
    # A short lease makes SIGKILL recovery quick; the SIGTERM test asks for a long one (marker `lease`), so
    # that only the hand-over, not a lease expiry, can explain a quick resume.
    marker = request.node.get_closest_marker("lease")
    lease = str(marker.args[0]) if marker else "2"
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test",
           "LEASE_SECONDS": lease, "REAPER_INTERVAL_SECONDS": "0.5", "WORKER_DRAIN_SECONDS": "0.5"}
    if request.param == "postgres+redis":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["REDIS_URL"] = request.getfixturevalue("services").redis_url
        env["HUEY_NAME"] = f"trellis-test-{uuid.uuid4().hex[:8]}"
    with running_stack(tmp_path / "home", env, workers=1) as stack:
        yield stack


def _start_streaming(client: httpx.Client, headers: dict[str, str], until_node: str) -> str:
    body = {"inputs": {"q": "durable"}, "response_mode": "streaming", "user": "u1"}
    with client.stream("POST", "/v1/workflows/run", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["event"] == until_node[0] and event["data"].get("node_id") == until_node[1]:
                return str(event["workflow_run_id"])
    raise AssertionError("stream ended early")


def _wait_final(client: httpx.Client, headers: dict[str, str], run_id: str, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = client.get(f"/v1/workflows/run/{run_id}", headers=headers).json()
        if detail["status"] not in ("queued", "running"):
            return detail
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {detail['status']}")


def _prompts(llm_server: StubLLMServer, prefix: str) -> int:
    return sum(1 for r in llm_server.chat_requests() if r["messages"][-1]["content"].startswith(prefix))


def test_sigkill_mid_run_resumes_from_checkpoint(durable_stack: Stack, llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 1.0
    with httpx.Client(base_url=durable_stack.base_url, timeout=60) as client:
        headers = provision(client, two_llm_dsl())
        run_id = _start_streaming(client, headers, ("node_finished", "first"))
        time.sleep(0.3)  # the second LLM call is now in flight
        durable_stack.workers[0].send_signal(signal.SIGKILL)
        durable_stack.workers[0].wait()
        durable_stack.start_worker()
        detail = _wait_final(client, headers, run_id)
    assert detail["status"] == "succeeded"
    assert detail["outputs"] == {"answer": "Echo: second step: Echo: first step: durable"}
    assert _prompts(llm_server, "first step") == 1  # the finished node was restored, not called again
    assert _prompts(llm_server, "second step") == 2  # the in-flight node ran again, once


@pytest.mark.lease(60)
def test_sigterm_hands_the_run_to_another_worker_at_once(durable_stack: Stack, llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 1.5
    durable_stack.start_worker()  # a second worker to take over
    with httpx.Client(base_url=durable_stack.base_url, timeout=60) as client:
        headers = provision(client, two_llm_dsl())
        run_id = _start_streaming(client, headers, ("node_started", "first"))
        owner_pid = int(_run_row(durable_stack, run_id).lease_owner.split(":")[1])
        holder = next(w for w in durable_stack.workers if w.pid == owner_pid)
        holder.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        holder.wait(timeout=20)
        detail = _wait_final(client, headers, run_id, timeout=45)
        handed_over_in = time.monotonic() - terminated
    assert detail["status"] == "succeeded"
    assert detail["outputs"]["answer"].startswith("Echo: second step")
    row = _run_row(durable_stack, run_id)
    # acquire (1), release on SIGTERM (2), acquire by the other worker (3): handed over, not reaped, and far
    # sooner than the 60 s lease would have allowed.
    assert row.attempts == 2 and row.epoch == 3
    assert handed_over_in < 30


def _run_row(stack: Stack, run_id: str):  # type: ignore[no-untyped-def]
    [row] = stack.query("SELECT lease_owner, attempts, epoch FROM workflow_runs WHERE id = :id", {"id": run_id})
    return row
