"""The MCP bridge built-ins (`mcp_sse`, `mcp_config`) against the fixture MCP server started by the test over both
transports, through the real egress guard with 127.0.0.1 allowed; and an imported agent app that uses `mcp_sse`,
run end to end against the stub model."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import create_app
from app.engine.ports import ToolRef
from app.errors import ToolCredentialsMissing, ToolInvokeError
from app.providers.egress import EgressClient, EgressPolicy
from app.tools.provider import ProviderContext
from app.tools.registry import ToolRegistry
from bench.llm_server import Reply, StubLLMServer
from bench.stack import free_port
from tests.app.api.test_service_workflows import sse_events
from tests.app.tools.builtin.calls import call
from tests.conftest import ADMIN, ADMIN_HEADERS, app_key, build_test_container, fixture_dsl

TOOLS = ["add", "whoami", "pixel", "slow", "fail"]
SECRET = "Bearer sk-bridge-never-shown"


@pytest.fixture(scope="module")
def context() -> Iterator[ProviderContext]:
    client = EgressClient(EgressPolicy.parse("127.0.0.1"))
    yield ProviderContext(http=client, timeout_seconds=15.0)
    client.close()


def servers_config(**servers: dict[str, Any]) -> dict[str, str]:
    return {"servers_config": json.dumps(servers)}


def dead_url(path: str = "/sse") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"


# mcp_sse: the servers of the credential.

def test_sse_lists_the_tools_of_every_configured_server(mcp_servers: dict[str, str],
                                                        context: ProviderContext) -> None:
    credentials = servers_config(first={"url": mcp_servers["sse"]},
                                 second={"url": mcp_servers["streamable_http"], "transport": "streamable_http"})
    result = call("mcp_sse", "mcp_sse_list_tools", context, credentials)
    listed = json.loads(result.text)
    assert [t["name"] for t in listed] == TOOLS * 2
    add = listed[0]
    assert set(add) == {"name", "description", "inputSchema"} and add["description"] == "Add two integers"
    assert add["inputSchema"]["required"] == ["a", "b"]
    assert add["inputSchema"]["properties"]["a"]["type"] == "integer"


def test_sse_calls_the_tool_on_the_first_server_offering_it(mcp_servers: dict[str, str],
                                                            context: ProviderContext) -> None:
    credentials = servers_config(
        gone={"url": dead_url(), "headers": {"Authorization": SECRET}},
        calc={"url": mcp_servers["sse"], "headers": {"Authorization": SECRET}, "timeout": 10, "sse_read_timeout": 10})
    result = call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="add",
                  arguments='{"a": 2, "b": 40}')
    assert result.text == "42" and result.json == ({"result": "42"},)
    # The headers of the configured server reach it; the unreachable server before it was skipped.
    assert call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="whoami",
                arguments="{}").text == SECRET
    # An object (as agents sometimes send) works as well as JSON text; `mcpServers` wrapping is accepted.
    wrapped = {"servers_config": json.dumps({"mcpServers": {"calc": {"url": mcp_servers["streamable_http"],
                                                                      "transport": "streamable-http"}}})}
    assert call("mcp_sse", "mcp_sse_call_tool", context, wrapped, tool_name="add",
                arguments={"a": 1, "b": 2}).text == "3"


def test_sse_images_become_files(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    result = call("mcp_sse", "mcp_sse_call_tool", context, servers_config(img={"url": mcp_servers["sse"]}),
                  tool_name="pixel", arguments="{}")
    [image] = result.files
    assert image["mime_type"] == "image/png" and image["url"].startswith("data:image/png;base64,")


def test_sse_credential_errors_never_show_the_credential(context: ProviderContext) -> None:
    with pytest.raises(ToolCredentialsMissing, match="servers_config"):
        call("mcp_sse", "mcp_sse_list_tools", context)
    cases = {
        json.dumps({"calc": {"url": "http://a/sse", "headers": {"Authorization": SECRET}}})[:-2]: "not valid JSON",
        json.dumps({"calc": {"url": "ftp://a/sse", "headers": {"Authorization": SECRET}}}):
            "'calc' of servers_config is invalid: url",
        json.dumps({"calc": {"url": "http://a/sse", "headers": {"Authorization": SECRET + "\r\nX: y"}}}):
            "header 'Authorization' has an invalid name or value",
        json.dumps({"calc": {"url": "http://a/sse", "transport": "stdio", "headers": {"A": SECRET}}}):
            "'calc' of servers_config is invalid: transport",
        json.dumps([SECRET]): "must be a JSON object",
        "{}": "must be a JSON object",
    }
    for config, reason in cases.items():
        with pytest.raises(ToolCredentialsMissing) as caught:
            call("mcp_sse", "mcp_sse_call_tool", context, {"servers_config": config}, tool_name="add",
                 arguments="{}")
        assert reason in caught.value.message and "credentials" in caught.value.message, config
        assert "sk-bridge" not in caught.value.message


def test_sse_call_errors(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    credentials = servers_config(calc={"url": mcp_servers["sse"]})
    with pytest.raises(ToolInvokeError, match=r"arguments is not valid JSON .*as a JSON object"):
        call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="add", arguments="{a: 1}")
    with pytest.raises(ToolInvokeError, match="arguments must be a JSON object, got list"):
        call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="add", arguments="[1, 2]")
    with pytest.raises(ToolInvokeError, match="parameter 'tool_name' is required"):
        call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="", arguments="{}")
    with pytest.raises(ToolInvokeError, match=r"no configured MCP server offers a tool named 'nope' \(servers: calc"):
        call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="nope", arguments="{}")
    with pytest.raises(ToolInvokeError, match="MCP tool 'fail' failed: Error executing tool fail"):
        call("mcp_sse", "mcp_sse_call_tool", context, credentials, tool_name="fail", arguments='{"reason": "why"}')


def test_sse_unreachable_servers_are_named_without_their_headers(context: ProviderContext) -> None:
    credentials = servers_config(backoffice={"url": dead_url(), "headers": {"Authorization": SECRET}})
    for tool, arguments in (("mcp_sse_list_tools", {}), ("mcp_sse_call_tool", {"tool_name": "add",
                                                                               "arguments": "{}"})):
        with pytest.raises(ToolInvokeError, match="MCP server 'backoffice'") as caught:
            call("mcp_sse", tool, context, credentials, **arguments)
        assert "sk-bridge" not in caught.value.message


def test_sse_goes_through_the_egress_guard(mcp_servers: dict[str, str]) -> None:
    closed = ProviderContext(http=EgressClient(EgressPolicy()), timeout_seconds=5.0)
    with pytest.raises(ToolInvokeError, match="not a public address"):
        call("mcp_sse", "mcp_sse_list_tools", closed, servers_config(calc={"url": mcp_servers["sse"]}))


# mcp_config: the server comes with each call.

@pytest.mark.parametrize("transport", ["sse", "streamable_http"])
def test_config_lists_and_calls_with_the_url_s_transport(mcp_servers: dict[str, str], context: ProviderContext,
                                                         transport: str) -> None:
    url = mcp_servers[transport]
    listed = json.loads(call("mcp_config", "mcp_list_tools", context, server_url=url).text)
    assert [t["name"] for t in listed] == TOOLS and listed[0]["inputSchema"]["required"] == ["a", "b"]
    result = call("mcp_config", "mcp_call_tool", context, server_url=url, tool_name="add",
                  arguments='{"a": 20, "b": 22}', timeout="10", sse_read_timeout=10)
    assert result.text == "42" and result.json == ({"result": "42"},)
    whoami = call("mcp_config", "mcp_call_tool", context, server_url=url, tool_name="whoami",
                  headers=json.dumps({"Authorization": SECRET}))
    assert whoami.text == SECRET  # no arguments: an empty object


def test_config_errors_never_show_headers(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    url = mcp_servers["streamable_http"]
    bad = {
        "server_url must be an http(s) URL": {"server_url": "file:///etc/passwd"},
        "headers is not valid JSON": {"server_url": url, "headers": json.dumps({"Authorization": SECRET})[:-1]},
        "headers must be a JSON object": {"server_url": url, "headers": json.dumps([SECRET])},
        "header 'Authorization' has an invalid name or value": {
            "server_url": url, "headers": json.dumps({"Authorization": SECRET + "\n"})},
        "timeout must be a positive number": {"server_url": url, "timeout": -1},
        "arguments must be a JSON object": {"server_url": url, "tool_name": "add", "arguments": '"a=1"'},
        "has no tool named 'nope'": {"server_url": url, "tool_name": "nope"},
    }
    for reason, arguments in bad.items():
        with pytest.raises(ToolInvokeError) as caught:
            call("mcp_config", "mcp_call_tool", context, **{"tool_name": "add", **arguments})
        assert reason in caught.value.message and "sk-bridge" not in caught.value.message, reason


def test_config_unreachable_server_is_named_by_host_only(context: ProviderContext) -> None:
    url = dead_url("/sse?key=sk-in-the-url")
    with pytest.raises(ToolInvokeError, match=r"MCP server '127\.0\.0\.1:\d+'") as caught:
        call("mcp_config", "mcp_list_tools", context, server_url=url, headers=json.dumps({"X-Key": SECRET}))
    assert "sk-in-the-url" not in caught.value.message and "sk-bridge" not in caught.value.message


def test_config_timeouts_are_capped_by_the_deployment(mcp_servers: dict[str, str],
                                                      context: ProviderContext) -> None:
    short = ProviderContext(http=context.http, timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(ToolInvokeError, match="did not answer within 1s"):
        call("mcp_config", "mcp_call_tool", short, server_url=mcp_servers["sse"], tool_name="slow",
             arguments='{"seconds": 10}', timeout=60)  # asked for a minute; the deployment allows one second
    assert time.monotonic() - started < 5


def test_config_goes_through_the_egress_guard(mcp_servers: dict[str, str]) -> None:
    closed = ProviderContext(http=EgressClient(EgressPolicy()), timeout_seconds=5.0)
    with pytest.raises(ToolInvokeError, match="not a public address"):
        call("mcp_config", "mcp_list_tools", closed, server_url=mcp_servers["streamable_http"])


# Through the registry, as imports and runs reach them.

def test_the_dify_plugin_ids_resolve_and_imports_see_what_is_missing(context: ProviderContext) -> None:
    registry = ToolRegistry(context)
    sse_call = ToolRef("builtin", "junjiem/mcp_sse/mcp_sse", "mcp_sse_call_tool")
    config_call = ToolRef("builtin", "arrenxxxxx/mcp_config_during_use/mcp_config", "mcp_call_tool")
    assert registry.problem("ws", sse_call) == "credentials_missing"
    assert registry.problem("ws", config_call) is None
    assert registry.problem("ws", ToolRef("builtin", "junjiem/mcp_sse/mcp_sse", "mcp_sse_nope")) == "not_installed"
    sse_spec = registry.describe("ws", sse_call).parameters
    assert sse_spec["required"] == ["tool_name", "arguments"]
    config_spec = registry.describe("ws", config_call).parameters
    assert list(config_spec["properties"]) == ["server_url", "headers", "timeout", "sse_read_timeout", "tool_name",
                                               "arguments"]
    assert config_spec["required"] == ["server_url", "tool_name"]
    assert config_spec["properties"]["timeout"] == {"type": "number", "description": "HTTP timeout in seconds.",
                                                    "default": 60.0}
    with pytest.raises(ToolCredentialsMissing, match="PUT /manage/v1/tool-providers/builtin/mcp_sse/credentials"):
        registry.invoke("ws", sse_call, {"tool_name": "add", "arguments": "{}"})


# An imported agent-chat app whose agent lists and calls MCP tools through `mcp_sse`.

def bridge_script(request: dict[str, Any]) -> str | Reply:
    """List the tools, call `add`, then answer with what the tools returned."""
    messages = request.get("messages") or []
    seen = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
    if not seen:
        return Reply(tool_calls=({"name": "mcp_sse_list_tools", "arguments": {}},))
    if len(seen) == 1:
        return Reply(tool_calls=({"name": "mcp_sse_call_tool",
                                  "arguments": {"tool_name": "add", "arguments": '{"a": 30, "b": 12}'}},))
    return "Saw: " + " | ".join(seen)


def test_an_imported_agent_app_lists_and_calls_mcp_tools(make_settings: Callable[..., Any],
                                                         llm_server: StubLLMServer,
                                                         mcp_servers: dict[str, str]) -> None:
    container = build_test_container(make_settings(egress_allow="127.0.0.1/32"))
    try:
        api = create_app(container.settings, container).test_client()
        container.accounts.ensure_admin_token(ADMIN)
        imported = api.post("/manage/v1/apps", data=fixture_dsl("mcp_sse_agent.yml").encode(),
                            headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
        assert imported.status_code == 201, imported.get_json()
        assert {(m["tool_name"], m["reason"]) for m in imported.get_json()["missing_tools"]} == {
            ("mcp_sse_list_tools", "credentials_missing"), ("mcp_sse_call_tool", "credentials_missing")}
        config = json.dumps({"calc": {"url": mcp_servers["streamable_http"], "transport": "streamable_http",
                                      "headers": {"Authorization": SECRET}}})
        answer = api.put("/manage/v1/tool-providers/builtin/junjiem/mcp_sse/mcp_sse/credentials",
                         headers=ADMIN_HEADERS, json={"credentials": {"servers_config": config}})
        assert answer.status_code == 200, answer.get_json()
        llm_server.script(bridge_script)
        body = {"inputs": {}, "query": "what is 30 + 12?", "user": "u", "response_mode": "streaming"}
        events = sse_events(api.post("/v1/chat-messages", headers=app_key(api, imported.get_json()["id"]),
                                     json=body).data)
    finally:
        container.close()
    thoughts = [e for e in events if e["event"] == "agent_thought" and e.get("tool")]
    assert [t["tool"] for t in thoughts] == ["mcp_sse_list_tools", "mcp_sse_call_tool"]
    assert [t["name"] for t in json.loads(thoughts[0]["observation"])] == TOOLS
    assert thoughts[1]["observation"].startswith("42")
    answer_text = "".join(e["answer"] for e in events if e["event"] == "agent_message")
    assert answer_text.startswith("Saw: [{\"name\": \"add\"") and answer_text.endswith("42\n{\"result\": \"42\"}")
    assert events[-1]["event"] == "message_end"
