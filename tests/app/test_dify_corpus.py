"""The corpus walk: every real Dify export in the corpus (../shared/dify-corpus, read by path, never copied) is
imported through the management API and run once against the echo model (embedded backends, Huey immediate),
with plausible inputs built from its start node: text, the first option of a select, a number, an uploaded file
of an allowed type. Each file is classified:

- imported, or refused for a reason on the KNOWN_IMPORT_GAPS list (work of other issues, shrunk as it lands);
- succeeded;
- failed at the outside world: the failing node needed a web API, MCP server or intranet host (refused by the
  egress guard, unresolvable here, or answering an error status the next node cannot parse), a real model's
  answer (the echo model's answer is not what the next node parses), or a Python package the sandbox does not
  ship (Dify's sandbox needs it added too);
- failed where the export itself is broken (KNOWN_EXPORT_FAULTS, each with the error it must fail with);
- failed otherwise: a Trellis gap. The test fails on any, naming the file, node and error.

The counts are printed (`pytest -s`) and recorded as the test's `corpus_counts` property (junit XML). Each run is
time-bounded by short engine and HTTP limits, so the walk takes well under a minute.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from tests.app.api.test_service_workflows import sse_events
from tests.conftest import ADMIN, ADMIN_HEADERS, app_key, build_test_container
from tests.corpus import corpus_dir

# Import refusals that other work removes; the lead deletes an entry when its work is merged.
KNOWN_IMPORT_GAPS = {
    "tool nodes (tool registry work)": re.compile(r"unsupported node types: .*\(tool\)"),
    "agent nodes (agent node work)": re.compile(r"unsupported node types: .*\(agent\)"),
    "agent-chat, chat and completion modes (app modes work)": re.compile(r"DSL has no `workflow` section"),
}
# Where a run may fail because this machine cannot reach what the app needs (an MCP server that answers 404
# fails as `MCPError: Not Found` over streamable HTTP).
OUTSIDE_WORLD = re.compile(
    r"cannot resolve|refused|not a public address|timed out|HTTP request failed|Connection|ConnectError|"
    r"status code [45]\d\d|MCPError: Not Found|Max execution time|provider|api key|credential|not installed|"
    r"plugin", re.IGNORECASE)
# Files (by name prefix) whose own export is broken on the branch the walk takes, each with the error it must
# fail with. 81 and 83: the JSON body template misses a comma after "prompt"; Dify refuses that body too.
KNOWN_EXPORT_FAULTS = {
    prefix: re.compile(r"http-request 1756865047041: the JSON body is not valid JSON after templating")
    for prefix in ("wwwzhouhui_dify-for-dsl_81-dify案例分享-零代码用_Dify_使用梦_AI_3.0",
                   "wwwzhouhui_dify-for-dsl_83-dify案例分享-免费玩转即梦_4.0_多图生成")
}
MODEL_NODES = frozenset({"llm", "parameter-extractor", "question-classifier", "agent"})
MISSING_PACKAGE = re.compile(r"No module named '([\w.]+)'")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                    "9c6360000002000154a24f5d0000000049454e44ae426082")


@dataclass
class Outcome:
    file: str
    kind: str  # known-gap | import-failed | succeeded | outside-world | export-fault | failed-otherwise
    detail: str = ""
    seconds: float = 0.0


def _probe_file(variable: dict[str, Any]) -> tuple[str, bytes, str]:
    extensions = [e.lower().lstrip(".") for e in variable.get("allowed_file_extensions") or []]
    kinds = variable.get("allowed_file_types") or ["document"]
    if "json" in extensions:
        return "probe.json", b'{"probe": 1}', "custom"
    if "image" in kinds:
        return "probe.png", PNG, "image"
    if "document" in kinds:
        return "probe.txt", b"probe document: 12 apples, 3 pears", "document"
    return "probe.mp3", b"ID3 probe", kinds[0]


def _inputs(client: Any, headers: dict[str, str], start: dict[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for variable in start.get("variables") or []:
        kind, name = variable.get("type"), variable["variable"]
        if kind == "number":
            inputs[name] = 3
        elif kind == "select":  # the first real option: some forms list an empty placeholder first
            inputs[name] = next((o for o in variable.get("options") or [] if str(o).strip()), "a")
        elif kind in ("file", "file-list"):
            filename, data, file_type = _probe_file(variable)
            uploaded = client.post("/v1/files/upload", headers=headers, content_type="multipart/form-data",
                                   data={"file": (io.BytesIO(data), filename), "user": "walker"})
            assert uploaded.status_code == 201, uploaded.get_json()
            ref = {"transfer_method": "local_file", "upload_file_id": uploaded.get_json()["id"], "type": file_type}
            inputs[name] = [ref] if kind == "file-list" else ref
        elif "json" in name.lower():  # a form that asks for a JSON document gets one
            inputs[name] = '{"title": "Shanghai weather", "items": ["12 apples"]}'
        else:
            limit = variable.get("max_length") or 48
            inputs[name] = "Shanghai weather, 12 apples"[: max(1, int(limit))]
    return inputs


def _start_form(doc: dict[str, Any]) -> dict[str, Any]:
    """The start node's data of a workflow, or for the app modes without one the `user_input_form` rewritten as
    start variables (each entry is `{<type>: {variable, options...}}`)."""
    nodes = ((doc.get("workflow") or {}).get("graph") or {}).get("nodes") or []
    start = next((n["data"] for n in nodes if (n.get("data") or {}).get("type") == "start"), None)
    if start is not None:
        return start
    form = (doc.get("model_config") or {}).get("user_input_form") or []
    return {"variables": [{**spec, "type": kind} for entry in form if isinstance(entry, dict)
                          for kind, spec in entry.items() if isinstance(spec, dict) and spec.get("variable")]}


CALLS_THE_WEB = re.compile(r"^\s*(import|from)\s+(requests|httpx|urllib\.request|http\.client)\b", re.MULTILINE)


def _calls_the_web(doc: dict[str, Any], node_id: str) -> bool:
    """Whether a code node's source calls a web API itself (its failures then come back as values)."""
    def walk(nodes: list[dict[str, Any]]) -> bool:
        return any(n.get("id") == node_id and CALLS_THE_WEB.search(str((n.get("data") or {}).get("code") or ""))
                   for n in nodes)
    return walk(((doc.get("workflow") or {}).get("graph") or {}).get("nodes") or [])


def _classify_failure(events: list[dict[str, Any]], message: str, doc: dict[str, Any] | None = None
                      ) -> tuple[str, str]:
    finished = [e["data"] for e in events if e.get("event") == "node_finished"]
    failed = next((n for n in finished if n.get("status") == "failed"), None)
    where = f"{failed['node_type']} {failed['node_id']}" if failed else "before any node"
    error = (failed or {}).get("error") or message
    detail = f"{where}: {error}"[:300]
    if failed is None:
        return ("outside-world" if OUTSIDE_WORLD.search(error) else "failed-otherwise"), detail
    missing = MISSING_PACKAGE.search(error)
    if missing and failed["node_type"] == "code":
        return "outside-world", f"needs python package {missing.group(1)}: {detail}"
    if OUTSIDE_WORLD.search(error):
        return "outside-world", detail
    if failed["node_type"] == "code" and doc is not None and _calls_the_web(doc, failed["node_id"]):
        return "outside-world", f"its code calls a web API this machine cannot reach: {detail}"
    answered = [n for n in finished if n.get("node_type") == "http-request" and n.get("status") == "succeeded"
                and int((n.get("outputs") or {}).get("status_code") or 0) >= 400]
    if answered:
        status = answered[-1]["outputs"]["status_code"]
        return "outside-world", f"the web API answered {status}, so the next node found no data: {detail}"
    earlier_models = [n for n in finished if n.get("node_type") in MODEL_NODES and n.get("status") == "succeeded"]
    if earlier_models:
        return "outside-world", f"needs a real model's answer: {detail}"
    return "failed-otherwise", detail


def _walk_one(client: Any, path: Path) -> Outcome:
    text = path.read_text(encoding="utf-8")
    response = client.post("/manage/v1/apps", data=text.encode(),
                           headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    if response.status_code != 201:
        message = str((response.get_json() or {}).get("message"))
        gap = next((reason for reason, pattern in KNOWN_IMPORT_GAPS.items() if pattern.search(message)), None)
        return Outcome(path.name, "known-gap" if gap else "import-failed", gap or message[:300])
    created = response.get_json()
    headers = app_key(client, created["id"])
    doc = yaml.safe_load(text)
    body: dict[str, Any] = {"inputs": _inputs(client, headers, _start_form(doc)), "response_mode": "streaming",
                            "user": "walker"}
    if created["mode"] != "workflow":
        body["query"] = "Shanghai weather, 12 apples"
    endpoint = {"workflow": "/v1/workflows/run", "completion": "/v1/completion-messages"}.get(
        created["mode"], "/v1/chat-messages")
    response = client.post(endpoint, headers=headers, json=body)
    if response.status_code != 200:
        return Outcome(path.name, *_classify_failure([], str((response.get_json() or {}).get("message"))))
    events = sse_events(response.data)
    final = next((e["data"] for e in events if e.get("event") == "workflow_finished"), None)
    if final is None:  # the app modes without a workflow end with message_end, or an error event
        failure = next((e for e in events if e.get("event") == "error"), None)
        if failure is None and any(e.get("event") == "message_end" for e in events):
            return Outcome(path.name, "succeeded")
        final = {"status": "failed", "error": (failure or {}).get("message", "no workflow_finished event")}
    if final["status"] in ("succeeded", "partial-succeeded"):
        return Outcome(path.name, "succeeded")
    kind, detail = _classify_failure(events, str(final.get("error")), doc)
    fault = next((p for prefix, p in KNOWN_EXPORT_FAULTS.items() if path.name.startswith(prefix)), None)
    if kind == "failed-otherwise" and fault is not None and fault.search(detail):
        return Outcome(path.name, "export-fault", detail)
    return Outcome(path.name, kind, detail)


def test_every_corpus_file_imports_and_runs_or_fails_at_the_outside_world(make_settings, record_property):
    files = sorted(corpus_dir().glob("*.yml"))
    if not files:
        pytest.skip(f"the Dify corpus is not on this machine ({corpus_dir()}; set DIFY_CORPUS_DIR)")
    settings = make_settings(max_execution_seconds=4, http_max_connect_seconds=2, http_max_read_seconds=3,
                             llm_timeout_seconds=5, sandbox_wall_seconds=5, blocking_timeout_seconds=15)
    container = build_test_container(settings)
    flask_app = create_app(settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = flask_app.test_client()
    started = time.monotonic()
    outcomes = []
    for path in files:
        began = time.monotonic()
        outcomes.append(_walk_one(client, path))
        outcomes[-1].seconds = time.monotonic() - began
    container.close()
    counts = Counter(o.kind for o in outcomes)
    counts["files"] = len(outcomes)
    counts["imported"] = len(outcomes) - counts["known-gap"] - counts["import-failed"]
    gaps = Counter(o.detail for o in outcomes if o.kind == "known-gap")
    record_property("corpus_counts", json.dumps(dict(counts), sort_keys=True))
    print(f"\ncorpus walk ({time.monotonic() - started:.1f}s): {json.dumps(dict(counts), sort_keys=True)}")
    print("known import gaps: " + json.dumps(dict(gaps), ensure_ascii=False))
    slowest = sorted(outcomes, key=lambda o: -o.seconds)[:5]
    print("slowest: " + ", ".join(f"{o.file[:40]} {o.seconds:.1f}s" for o in slowest))
    for outcome in outcomes:
        if outcome.kind != "succeeded":
            print(f"  {outcome.kind:16} {outcome.file[:70]} :: {outcome.detail[:200]}")
    unexpected = [o for o in outcomes if o.kind in ("import-failed", "failed-otherwise")]
    assert not unexpected, "\n".join(f"{o.kind}: {o.file}: {o.detail}" for o in unexpected)
    if gaps:
        pytest.xfail(f"{sum(gaps.values())} files wait for other work to import: {dict(gaps)}")
