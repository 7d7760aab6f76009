"""The flow `tests/fixtures/dsl/tool_kinds.yml` runs, shared by its embedded test (tests/app/api/test_tool_kinds.py)
and its production-path test (tests/integration/test_tool_kinds.py): the OpenAPI service and MCP server the
tests start, the install bodies of the four providers, the stub model's script for the two agents, and what the
run must produce."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from bench.llm_server import Reply
from bench.stack import free_port
from tests.app.tools.web import Web
from tests.conftest import FIXTURES, fixture_dsl

MCP_SERVER = FIXTURES.parent / "mcp_server.py"
PLUGIN_ID = "trellis/trellis_echo/trellis_echo"
PLUGIN_KEY = "sk-plugin-kinds-7788"
API_KEY = "sk-openapi-kinds-4455"
QUESTION = "tools of every kind"
REVERSE_SCHEMA = """
openapi: 3.0.0
info: {title: Reverse, version: "1"}
servers: [{url: "%s"}]
paths:
  /reverse:
    post:
      operationId: reverse
      summary: Reverse a text
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [text], properties: {text: {type: string}}}
"""
# The functions the stub model calls, in order, with their arguments; the agent with every kind calls the four
# installed tools, the agent that brings an MCP server by URL only `add` (its server also offers `whoami`).
EVERY_KIND = {"reverse": {"text": "agent"}, "add": {"a": 100, "b": 23}, "echo": {"text": "ok"},
              "shout": {"text": "agent"}}
BY_URL = {"add": {"a": 5, "b": 6}}


def serve_reverse(web: Web) -> None:
    """The OpenAPI service: its schema at /openapi.yaml, its one operation at /reverse (needs the bearer key)."""
    web.routes["/openapi.yaml"] = (200, "application/yaml", (REVERSE_SCHEMA % web.url).encode())

    def reverse(request: Any) -> tuple[int, str, bytes]:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return 401, "application/json", b'{"error": "bad key"}'
        return 200, "application/json", json.dumps({"reversed": request.json()["text"][::-1]}).encode()
    web.routes["/reverse"] = reverse


@contextmanager
def mcp_server() -> Iterator[str]:
    """The fixture MCP server (the official SDK, streamable HTTP) in a child process; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(MCP_SERVER), "streamable-http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MCP fixture server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def install_bodies(schema: str, mcp_url: str, callee_app_id: str) -> list[dict[str, Any]]:
    """POST /manage/v1/tool-providers bodies under the provider ids the DSL names (the plugin has its own
    endpoint)."""
    return [
        {"provider_type": "api", "provider_id": "reverse-api", "name": "Reverse",
         "config": {"schema": schema, "auth": {"type": "bearer"}}, "credentials": {"api_key": API_KEY}},
        {"provider_type": "mcp", "provider_id": "calc-mcp", "name": "Calculator", "config": {"server_url": mcp_url}},
        {"provider_type": "workflow", "provider_id": "shout-workflow", "name": "Shout",
         "config": {"app_id": callee_app_id, "name": "shout", "description": "Shouts a text"}}]


def tool_kinds_dsl(with_plugin: bool = True) -> str:
    """The fixture DSL; without the plugin its node and its agent tool are taken out (the chain is rejoined)."""
    if with_plugin:
        return fixture_dsl("tool_kinds.yml")
    doc = yaml.safe_load(fixture_dsl("tool_kinds.yml"))
    graph = doc["workflow"]["graph"]
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "plugin_tool"]
    into = next(e for e in graph["edges"] if e["target"] == "plugin_tool")
    out = next(e for e in graph["edges"] if e["source"] == "plugin_tool")
    graph["edges"] = [e for e in graph["edges"] if e not in (into, out)]
    graph["edges"].append({"id": "rejoined", "source": into["source"], "target": out["target"]})
    for node in graph["nodes"]:
        data = node["data"]
        if node["id"] == "agent":
            tools = data["agent_parameters"]["tools"]
            tools["value"] = [t for t in tools["value"] if t["type"] != "plugin"]
        if data["type"] == "end":
            data["outputs"] = [o for o in data["outputs"] if o["variable"] != "plugin"]
    return yaml.safe_dump(doc)


def agent_script(request: dict[str, Any]) -> str | Reply:
    """The stub model for both agents: call the planned functions that are offered, one per round, then answer
    with every tool result it read."""
    offered = [t["function"]["name"] for t in request.get("tools") or []]
    messages = request.get("messages") or []
    plan = BY_URL if "whoami" in offered else EVERY_KIND
    todo = [name for name in plan if name in offered]
    made = sum(len(m.get("tool_calls") or []) for m in messages if m.get("role") == "assistant")
    if offered and made < len(todo):
        name = todo[made]
        return Reply(tool_calls=({"name": name, "arguments": copy.deepcopy(plan[name])},))
    return "Saw: " + " | ".join(str(m.get("content")) for m in messages if m.get("role") == "tool")


def check_outputs(outputs: dict[str, Any], with_plugin: bool = True) -> None:
    """Each tool's real output reached the end node, from the tool nodes and from both agents."""
    assert outputs["api"] == [{"reversed": QUESTION[::-1]}]
    assert outputs["mcp"] == "42"
    assert outputs["workflow"] == [{"shouted": f"WF: {QUESTION.upper()}"}]
    agent = outputs["agent"]
    assert agent.startswith("Saw: ") and '{"reversed": "tnega"}' in agent and "123" in agent
    assert '"shouted": "WF: AGENT"' in agent
    if with_plugin:
        assert outputs["plugin"] == QUESTION.upper() * 2  # style=upper, times=2 from the node
        assert "okokok" in agent  # times=3 fixed by the author, text from the model
        assert '"key_suffix": "7788"' in agent  # the workspace's credential reached the plugin
    else:
        assert "plugin" not in outputs
    assert outputs["url_agent"].startswith("Saw: 11")


def check_stream(events: list[dict[str, Any]], with_plugin: bool = True) -> None:
    """`agent_log` events for every tool call of both agents, then a successful finish."""
    calls = [e["data"] for e in events if e["event"] == "agent_log" and e["data"]["label"].startswith("CALL ")
             and e["data"]["status"] == "success"]
    by_node: dict[str, list[str]] = {}
    for call in calls:
        by_node.setdefault(call["node_id"], []).append(call["data"]["tool_name"])
    expected = [n for n in EVERY_KIND if with_plugin or n != "echo"]
    assert by_node == {"agent": expected, "url_agent": ["add"]}
    assert events[-1]["event"] == "workflow_finished" and events[-1]["data"]["status"] == "succeeded"
