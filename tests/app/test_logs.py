"""JSON logs: bound context (request, run, task, app, node ids), redaction of keys and user content unless
payload logging is on, and `X-Request-Id` accepted, generated and returned by the API."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.logs import JsonFormatter, bind, clear_context, current_context, set_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
    clear_context()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def format_record(formatter: JsonFormatter, message: str, **extra) -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return json.loads(formatter.format(record))


def test_bind_adds_fields_and_restores_the_previous_context():
    clear_context()
    set_context(request_id="r1")
    with bind(run_id="run-1", app_id="a1", node_id=None):
        entry = format_record(JsonFormatter(), "inside")
        assert entry["request_id"] == "r1" and entry["run_id"] == "run-1" and entry["app_id"] == "a1"
        assert "node_id" not in entry  # None values are not bound
    assert current_context() == {"request_id": "r1"}
    clear_context()
    assert "request_id" not in format_record(JsonFormatter(), "after")


def test_secrets_and_payloads_are_redacted_unless_debug():
    message = "calling with Authorization: Bearer app-abcdefghijklmnop and key sk-1234567890abcdef"
    entry = format_record(JsonFormatter(), message, api_key="sk-live-123", prompts=[{"text": "my secret plan"}],
                          inputs={"q": "private"}, run_id="r")
    assert "abcdefghijklmnop" not in entry["message"] and "1234567890abcdef" not in entry["message"]
    assert entry["api_key"] == entry["prompts"] == entry["inputs"] == "[redacted]"
    assert entry["run_id"] == "r"
    debug = format_record(JsonFormatter(payloads=True), message, inputs={"q": "private"})
    assert "app-abcdefghijklmnop" in debug["message"] and debug["inputs"] == {"q": "private"}


def test_request_id_is_accepted_returned_or_generated(client):
    assert client.get("/health", headers={"X-Request-Id": "abc-123.x"}).headers["X-Request-Id"] == "abc-123.x"
    generated = client.get("/health", headers={"X-Request-Id": "bad id with spaces; <script>"}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/v1/nope").headers["X-Request-Id"])  # errors too


FAILING = """
app: {name: failing, mode: workflow}
kind: app
version: 0.1.5
workflow:
  graph:
    nodes:
      - id: start
        data: {type: start, title: Start, variables: [{variable: x, label: x, type: text-input, required: true}]}
      - id: broken
        data:
          type: template-transform
          title: Broken
          template: "{{ 1 / 0 }}"
          variables: []
      - id: end
        data: {type: end, title: End, outputs: [{variable: out, value_selector: [broken, output]}]}
    edges:
      - {id: e1, source: start, target: broken, sourceHandle: source, targetHandle: target}
      - {id: e2, source: broken, target: end, sourceHandle: source, targetHandle: target}
"""


def test_worker_logs_carry_request_run_task_app_and_node_ids(client, app_with_key, captured):
    headers = app_with_key(FAILING)
    response = client.post("/v1/workflows/run", headers={**headers, "X-Request-Id": "req-42"},
                           json={"inputs": {"x": "secret user text"}, "response_mode": "blocking", "user": "u"})
    body = response.get_json()
    assert body["data"]["status"] == "failed"
    failed = [e for e in lines(captured) if e["message"] == "node failed"]
    assert failed, lines(captured)
    entry = failed[0]
    assert entry["request_id"] == "req-42"  # immediate mode: the run executes inside the request
    assert entry["run_id"] == body["workflow_run_id"] and entry["task_id"] == body["task_id"]
    assert entry["node_id"] == "broken" and entry["node_type"] == "template-transform" and entry["app_id"]
    assert "secret user text" not in captured.getvalue()



def test_a_schema_upgrade_logs_no_alembic_plugin_chatter(tmp_path):
    # A new interpreter: Alembic announces its plugins once per process, when its modules are first imported.
    code = ("import logging, sys; from app.logs import configure_logging; configure_logging('INFO'); "
            "from app.db import upgrade_schema; upgrade_schema(sys.argv[1]); "
            "logging.getLogger('alembic.runtime.migration').info('still shown')")
    done = subprocess.run([sys.executable, "-c", code, f"sqlite:///{tmp_path / 'db.sqlite'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "setup plugin" not in done.stderr and "still shown" in done.stderr
