"""The MCP tool kind against a real MCP server (the SDK's MCPServer in a subprocess), over both transports."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from app.engine.ports import ToolRef
from app.errors import ToolInvokeError, ToolNotFound
from app.providers.egress import EgressClient, EgressPolicy
from app.tools import mcp
from app.tools.provider import ProviderContext
from bench.stack import free_port
from tests.app.tools.tiny_registry import TinyRegistry


@pytest.fixture(scope="module")
def context() -> Iterator[ProviderContext]:
    client = EgressClient(EgressPolicy.parse("127.0.0.1"))
    yield ProviderContext(http=client, timeout_seconds=15.0)
    client.close()


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_lists_and_calls_tools(mcp_servers: dict[str, str], context: ProviderContext, transport: str) -> None:
    provider = mcp.from_config("calc", {"server_url": mcp_servers[transport], "transport": transport}, context)
    specs = {s.ref.tool_name: s for s in provider.tools()}
    assert set(specs) == {"add", "whoami", "pixel", "slow", "fail"}
    assert specs["add"].ref.provider_type == "mcp" and specs["add"].description == "Add two integers"
    assert specs["add"].parameters["properties"]["a"]["type"] == "integer"
    assert specs["add"].parameters["required"] == ["a", "b"]

    result = provider.invoke("add", {"a": 2, "b": 40}, {})
    assert result.text == "42"
    assert result.json == ({"result": "42"},)  # the structured content


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_credentials_become_headers(mcp_servers: dict[str, str], context: ProviderContext, transport: str) -> None:
    provider = mcp.from_config("who", {"server_url": mcp_servers[transport], "transport": transport}, context)
    assert provider.invoke("whoami", {}, {"api_key": "s3cret"}).text == "Bearer s3cret"
    raw = provider.invoke("whoami", {}, {"header:Authorization": "Token abc"})
    assert raw.text == "Token abc"


def test_images_become_files(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    provider = mcp.from_config("img", {"server_url": mcp_servers["streamable_http"]}, context)
    result = provider.invoke("pixel", {}, {})
    [image] = result.files
    assert image["type"] == "image" and image["mime_type"] == "image/png" and image["size"] == 66
    assert image["url"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_tool_errors_and_unknown_tools(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    provider = mcp.from_config("err", {"server_url": mcp_servers["streamable_http"]}, context)
    with pytest.raises(ToolInvokeError, match="'fail' failed"):
        provider.invoke("fail", {"reason": "x"}, {})
    with pytest.raises(ToolNotFound):
        provider.invoke("nope", {}, {})
    stored = mcp.install_config("err", {"server_url": mcp_servers["streamable_http"]}, {"api_key": "k"}, context)
    assert [t["name"] for t in stored["tools"]] == ["add", "whoami", "pixel", "slow", "fail"]
    assert "k" not in str(stored.get("headers"))  # credentials are not part of the stored config
    installed = mcp.from_config("err", stored, context)
    assert [s.ref.tool_name for s in installed.tools()] == [t["name"] for t in stored["tools"]]
    assert installed.invoke("add", {"a": 1, "b": 2}, {}).text == "3"
    with pytest.raises(ToolNotFound):
        installed.invoke("nope", {}, {})


def test_the_egress_guard_refuses_loopback_by_default(mcp_servers: dict[str, str]) -> None:
    client = EgressClient(EgressPolicy())
    try:
        provider = mcp.from_config("local", {"server_url": mcp_servers["streamable_http"]},
                                   ProviderContext(http=client, timeout_seconds=5.0))
        with pytest.raises(ToolInvokeError, match="not a public address"):
            provider.invoke("add", {"a": 1, "b": 2}, {})
        unguarded = mcp.from_config("local", {"server_url": mcp_servers["sse"], "transport": "sse"},
                                    ProviderContext(timeout_seconds=5.0))
        with pytest.raises(ToolInvokeError, match="not a public address"):
            unguarded.tools()
    finally:
        client.close()


def test_unreachable_server_and_timeouts(context: ProviderContext) -> None:
    dead = mcp.from_config("dead", {"server_url": f"http://127.0.0.1:{free_port()}/mcp"},
                           ProviderContext(http=context.http, timeout_seconds=3.0))
    with pytest.raises(ToolInvokeError, match="dead"):
        dead.invoke("add", {"a": 1, "b": 2}, {"api_key": "never-shown"})
    try:
        dead.invoke("add", {}, {"api_key": "never-shown"})
    except ToolInvokeError as exc:
        assert "never-shown" not in str(exc)


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_a_slow_tool_times_out(mcp_servers: dict[str, str], context: ProviderContext, transport: str) -> None:
    provider = mcp.from_config("slow", {"server_url": mcp_servers[transport], "transport": transport,
                                        "timeout_seconds": 1.0}, context)
    started = time.monotonic()
    with pytest.raises(ToolInvokeError, match="did not answer within 1s"):
        provider.invoke("slow", {"seconds": 10}, {})
    assert time.monotonic() - started < 5


def test_calls_leave_no_threads_behind(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    provider = mcp.from_config("calc", {"server_url": mcp_servers["streamable_http"]}, context)
    provider.invoke("add", {"a": 1, "b": 1}, {})
    before = threading.active_count()
    for _ in range(3):
        provider.invoke("add", {"a": 1, "b": 1}, {})
    assert threading.active_count() <= before, [th.name for th in threading.enumerate()]


def test_config_is_validated() -> None:
    with pytest.raises(ValidationError):
        mcp.from_config("x", {"server_url": "file:///etc/passwd"}, ProviderContext())
    with pytest.raises(ValidationError):
        mcp.from_config("x", {"server_url": "http://a", "transport": "stdio"}, ProviderContext())


def test_through_the_tool_port(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    registry = TinyRegistry()
    registry.add(mcp.from_config("calc", {"server_url": mcp_servers["sse"], "transport": "sse"}, context),
                 {"api_key": "port-key"})
    ref = ToolRef("mcp", "calc", "add")
    assert registry.describe("ws", ref).parameters["required"] == ["a", "b"]
    assert registry.invoke("ws", ref, {"a": 20, "b": 22}).text == "42"
    assert registry.invoke("ws", ToolRef("mcp", "calc", "whoami"), {}).text == "Bearer port-key"


def test_callable_from_a_thread_that_runs_an_event_loop(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    provider = mcp.from_config("calc", {"server_url": mcp_servers["streamable_http"]}, context)

    async def inside_a_loop() -> str:
        return provider.invoke("add", {"a": 3, "b": 4}, {}).text
    assert asyncio.run(inside_a_loop()) == "7"


def test_an_error_status_is_named_without_the_url(mcp_servers: dict[str, str], context: ProviderContext) -> None:
    url = mcp_servers["sse"].removesuffix("/sse") + "/gone?key=sk-in-the-url"
    provider = mcp.from_config("gone", {"server_url": url, "transport": "sse"}, context)
    with pytest.raises(ToolInvokeError, match="MCP server 'gone' answered with status code 404") as caught:
        provider.invoke("add", {"a": 1, "b": 2}, {})
    assert "sk-in-the-url" not in caught.value.message
    # A server an agent names by URL has the URL as its id; errors name its host only.
    by_url = mcp.from_config(url, {"server_url": url, "transport": "sse"}, context)
    with pytest.raises(ToolInvokeError, match=r"MCP server '127\.0\.0\.1:\d+' answered with status code 404") as caught:
        by_url.tools()
    assert "sk-in-the-url" not in caught.value.message
