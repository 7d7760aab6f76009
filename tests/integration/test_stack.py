"""The walking skeleton end to end with real processes: gunicorn API + Huey worker, on the embedded
defaults and on the machine's Postgres + Redis, driven over HTTP exactly as the README shows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.llm_server import StubLLMServer
from bench.stack import Stack, running_stack
from tests.conftest import SAMPLES, fixture_dsl

pytestmark = pytest.mark.integration

ADMIN = "adm-integration"
LLM_DSL = fixture_dsl("llm_workflow.yml")


@pytest.fixture(params=["embedded", "postgres+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path, llm_server: StubLLMServer) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test"}
    if request.param == "postgres+redis":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["REDIS_URL"] = request.getfixturevalue("services").redis_url
        env["HUEY_NAME"] = f"trellis-test-{uuid.uuid4().hex[:8]}"
    with running_stack(tmp_path / "home", env) as running:
        yield running


def provision(client: httpx.Client, dsl: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = client.post("/manage/v1/apps", content=dsl, headers={**admin, "Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"id", "name", "mode"}
    key = client.post(f"/manage/v1/apps/{created.json()['id']}/api-keys", headers=admin)
    assert key.status_code == 201 and key.json()["token"].startswith("app-")
    return {"Authorization": f"Bearer {key.json()['token']}"}


def test_blocking_and_streaming_llm_run(stack: Stack, llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 0.05
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        assert client.get("/ready").json()["ready"] is True
        headers = provision(client, LLM_DSL)
        body = {"inputs": {"query": "ping"}, "response_mode": "blocking", "user": "u1"}
        blocking = client.post("/v1/workflows/run", json=body, headers=headers)
        assert blocking.status_code == 200
        data = blocking.json()["data"]
        assert data["status"] == "succeeded" and data["outputs"] == {"answer": "Echo: ping"}
        assert data["total_tokens"] > 0 and data["total_steps"] == 3

        events = []
        with client.stream("POST", "/v1/workflows/run", json={**body, "response_mode": "streaming"},
                           headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        kinds = [e["event"] for e in events]
        assert kinds[0] == "workflow_started" and kinds[-1] == "workflow_finished"
        assert "text_chunk" in kinds and kinds.count("node_finished") == 3
        run_id = events[-1]["workflow_run_id"]
        detail = client.get(f"/v1/workflows/run/{run_id}", headers=headers).json()
        assert detail["status"] == "succeeded" and detail["inputs"] == {"query": "ping"}
        logs = client.get("/v1/workflows/logs", headers=headers).json()
        assert logs["total"] == 2


def test_client_hangup_does_not_stop_the_run(stack: Stack, llm_server: StubLLMServer) -> None:
    llm_server.config.latency = 0.5
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        headers = provision(client, LLM_DSL)
        body = {"inputs": {"query": "survive"}, "response_mode": "streaming", "user": "u1"}
        with client.stream("POST", "/v1/workflows/run", json=body, headers=headers) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data: "))
        run_id = json.loads(first[6:])["workflow_run_id"]
        # The stream is closed; the worker still finishes the run.
        for _ in range(100):
            detail = client.get(f"/v1/workflows/run/{run_id}", headers=headers).json()
            if detail["status"] != "running" and detail["status"] != "queued":
                break
            import time

            time.sleep(0.1)
        assert detail["status"] == "succeeded"
        assert detail["outputs"] == {"answer": "Echo: survive"}


def test_sample_workflow_from_readme(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        headers = provision(client, (SAMPLES / "hello.yml").read_text())
        data = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"name": "Ada Lovelace"}, "response_mode": "blocking",
                                 "user": "u1"}).json()["data"]
        assert data["outputs"] == {"greeting": "Hello, Ada Lovelace! Nice to meet you, Ada."}
