"""Dify documents with `code` and `http-request` nodes (tests/fixtures/dsl), imported and run through the Service
API on embedded backends: the sandbox runs the code, the egress guard lets the HTTP node reach only an
allow-listed local server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import ADMIN, app_key, build_test_container, fixture_dsl, import_app
from tests.http_sink import HttpSink, start_sink

CODE_DSL = fixture_dsl("parallel_code_branches.yml")
HTTP_DSL = fixture_dsl("v070_http_request.yml")
PLACEHOLDER = "http://effect-sink.invalid:8099"


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
    (1, {"a": "A", "b": "B", "c": None}),
    (2, {"a": None, "b": "B", "c": "C"}),
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
    # The document targets a placeholder host; point it at the local server, nothing else changes.
    headers = app_key(client, import_app(client, HTTP_DSL.replace(PLACEHOLDER, sink.url)))
    data = run_blocking(client, headers, {"id": "k-1", "status": status, "block": "false"})
    assert data["status"] == "succeeded", data["error"]  # no retry, no error strategy: the status is an output
    assert data["outputs"] == {"status_code": status, "body": '{"applied": true}'}
    sent = sink.requests[-1]
    assert sent.method == "POST" and sent.path == "/effect"
    assert json.loads(sent.body) == {"id": "k-1", "status": status, "block": False}


def test_http_fixture_is_refused_without_the_allow_list(make_settings, sink):
    client = guarded_client(make_settings, "")
    headers = app_key(client, import_app(client, HTTP_DSL.replace(PLACEHOLDER, sink.url)))
    before = len(sink.requests)
    data = run_blocking(client, headers, {"id": "k", "status": 200, "block": "false"})
    assert data["status"] == "failed" and "refused" in data["error"]
    assert len(sink.requests) == before
    assert client.get("/v1/info", headers=headers).status_code == 200  # still serving
