"""Real exports with `code` and `http-request` nodes, imported and run through the Service API on embedded
backends: the sandbox runs the code, the egress guard lets the HTTP node reach only an allow-listed local server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import ADMIN, DSL_DIR, app_key, build_test_container, import_app
from tests.http_sink import HttpSink, start_sink

CODE_DSL = (DSL_DIR / "langgenius_dify_conditional_parallel_code_execution_workflow.yml").read_text()
HTTP_DSL = (DSL_DIR / "kuoforever_agent-crash-recovery-bench_http-no-retry.yml").read_text()


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    server = start_sink()
    yield server
    server.close()


def run_blocking(client: FlaskClient, headers: dict[str, str], inputs: dict) -> dict:
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": inputs, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


@pytest.mark.parametrize(("switch", "expected"), [
    (1, {"1": "Code 1", "2": "Code 2", "3": None}),
    (2, {"1": None, "2": "Code 2", "3": "Code 3"}),
])
def test_parallel_code_fixture(client, app_with_key, switch, expected):
    headers = app_with_key(CODE_DSL)
    data = run_blocking(client, headers, {"switch": switch})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"] == expected


def guarded_client(make_settings, allow: str) -> FlaskClient:
    container = build_test_container(make_settings(egress_allow=allow))
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    return app.test_client()


@pytest.mark.parametrize("status", [200, 500])
def test_http_fixture_reaches_an_allow_listed_server(make_settings, sink, status):
    client = guarded_client(make_settings, "127.0.0.1/32")
    # The export targets its benchmark's sink host; point it at the local server, nothing else changes.
    headers = app_key(client, import_app(client, HTTP_DSL.replace("http://dify-bench-sink:8099", sink.url)))
    data = run_blocking(client, headers, {"key": "k-1", "status": status, "block": "false"})
    assert data["status"] == "succeeded", data["error"]  # no retry, no error strategy: the status is an output
    assert data["outputs"] == {"status_code": status, "body": '{"applied": true}'}
    sent = sink.requests[-1]
    assert sent.method == "POST" and sent.path == "/effect"
    assert json.loads(sent.body) == {"key": "k-1", "token": "k-1", "status": status, "block": False}


def test_http_fixture_is_refused_without_the_allow_list(make_settings, sink):
    client = guarded_client(make_settings, "")
    headers = app_key(client, import_app(client, HTTP_DSL.replace("http://dify-bench-sink:8099", sink.url)))
    before = len(sink.requests)
    data = run_blocking(client, headers, {"key": "k", "status": 200, "block": "false"})
    assert data["status"] == "failed" and "refused" in data["error"]
    assert len(sink.requests) == before
    assert client.get("/v1/info", headers=headers).status_code == 200  # still serving
