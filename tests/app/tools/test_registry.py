"""The registry: Dify provider ids resolved to native built-ins, installed providers found by id or name and
built by their kind's factory (cached per installation version), credentials per workspace, import checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import TypeAdapter

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import InvalidParam, ToolCredentialsMissing, ToolInvokeError, ToolNotFound
from app.tools import registry as registry_module
from app.tools.builtin import BuiltinSpec
from app.tools.builtin.provider import BuiltinTool, ToolCall
from app.tools.provider import ProviderContext
from app.tools.registry import ToolRegistry, builtin_id
from tests.app.tools.memory_store import MemoryStore


class EchoProvider:
    """A provider kind for the test: one tool `echo` that returns its arguments and the credentials it got."""

    provider_type = "mcp"
    built = 0

    def __init__(self, provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> None:
        EchoProvider.built += 1
        self.provider_id, self.config, self.context = provider_id, dict(config), context

    def tools(self) -> list[ToolSpec]:
        return [ToolSpec(ToolRef("mcp", self.provider_id, "echo"), "echo")]

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        if tool_name == "boom":
            raise RuntimeError("adapter bug")
        return ToolResult(text=self.context.workspace_id, variables={"args": arguments, "creds": dict(credentials),
                                                                      "config": self.config})


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def registry(store: MemoryStore) -> ToolRegistry:
    return ToolRegistry(ProviderContext(), store, kinds={"mcp": EchoProvider, "plugin": EchoProvider})


def test_dify_ids_of_native_built_ins():
    assert builtin_id("time") == "time" and builtin_id("langgenius/time/time") == "time"
    assert builtin_id("bowenliang123/md_exporter/md_exporter") == "md_exporter"
    assert builtin_id("someone/time/time") is None and builtin_id("jaguarliuu/rookie_rss/rookie_rss") is None


@pytest.mark.parametrize("kind,provider_id", [("builtin", "time"), ("builtin", "langgenius/time/time"),
                                              ("plugin", "langgenius/time/time")])
def test_builtin_and_plugin_refs_reach_the_native_time(registry, kind, provider_id):
    ref = ToolRef(kind, provider_id, "current_time")
    assert registry.invoke("ws", ref, {"timezone": "UTC", "format": "%Z"}).text == "UTC"
    spec = registry.describe("ws", ref)
    assert spec.ref == ref and spec.parameters["properties"] == {}  # both are set in the node, not by a model
    stamp = registry.describe("ws", ToolRef(kind, provider_id, "timestamp_to_localtime"))
    assert stamp.parameters["required"] == ["timestamp"]


def test_missing_providers_and_tools_are_named(registry):
    with pytest.raises(ToolNotFound, match="jaguarliuu/rookie_rss/rookie_rss"):
        registry.invoke("ws", ToolRef("builtin", "jaguarliuu/rookie_rss/rookie_rss", "rookie_rss"), {})
    with pytest.raises(ToolNotFound, match="'warp'"):
        registry.invoke("ws", ToolRef("builtin", "time", "warp"), {})
    with pytest.raises(ToolNotFound, match="not installed in this workspace.*tool-providers"):
        registry.invoke("ws", ToolRef("mcp", "pdftranslate-mcp-server", "translate_pdf"), {})
    with pytest.raises(ToolNotFound, match="kind 'sorcery'"):
        registry.invoke("ws", ToolRef("sorcery", "x", "y"), {})


def test_an_installed_plugin_wins_over_the_native_built_in(registry, store):
    store.add("ws", "plugin", "langgenius/time/time")
    result = registry.invoke("ws", ToolRef("builtin", "langgenius/time/time", "current_time"), {"a": 1})
    assert result.variables["args"] == {"a": 1}
    assert registry.invoke("other", ToolRef("builtin", "langgenius/time/time", "current_time"), {}).text != "other"


def test_installed_providers_by_id_or_name_per_workspace_with_their_credentials(registry, store):
    store.add("ws", "mcp", "srv-1", name="pdftranslate-mcp-server", config={"url": "http://x"},
              credentials={"token": "s3cret"})
    by_id = registry.invoke("ws", ToolRef("mcp", "srv-1", "echo"), {"q": "hi"})
    assert by_id.text == "ws" and by_id.variables["creds"] == {"token": "s3cret"}
    by_name = ToolRef("mcp", "uuid-from-another-dify", "echo", provider_name="pdftranslate-mcp-server")
    assert registry.invoke("ws", by_name, {}).variables["config"] == {"url": "http://x"}
    with pytest.raises(ToolNotFound):
        registry.invoke("other-workspace", ToolRef("mcp", "srv-1", "echo"), {})


def test_built_providers_are_cached_until_the_installation_changes(registry, store):
    item = store.add("ws", "mcp", "srv", config={"v": 1})
    before = EchoProvider.built
    for _ in range(3):
        registry.invoke("ws", ToolRef("mcp", "srv", "echo"), {})
    assert EchoProvider.built == before + 1
    store.bump(item, config={"v": 2})
    assert registry.invoke("ws", ToolRef("mcp", "srv", "echo"), {}).variables["config"] == {"v": 2}
    assert EchoProvider.built == before + 2


def test_adapter_bugs_become_tool_errors_naming_the_tool(registry, store):
    store.add("ws", "mcp", "srv")
    with pytest.raises(ToolInvokeError, match="mcp:srv/boom failed: RuntimeError: adapter bug"):
        registry.invoke("ws", ToolRef("mcp", "srv", "boom"), {})


def test_builtin_credentials_come_from_the_workspace(registry, store):
    ref = ToolRef("builtin", "tavily", "tavily_search")
    with pytest.raises(ToolCredentialsMissing, match="api_key.*credentials"):
        registry.invoke("ws", ref, {"query": "q"})
    assert registry.problem("ws", ref) == "credentials_missing"
    store.add("ws", "builtin", "tavily", credentials={"api_key": "tvly-x"})
    assert registry.problem("ws", ref) is None


def test_problem_reports_without_building(registry, store):
    assert registry.problem("ws", ToolRef("builtin", "langgenius/time/time", "current_time")) is None
    assert registry.problem("ws", ToolRef("builtin", "time", "warp")) == "not_installed"
    assert registry.problem("ws", ToolRef("builtin", "jaguarliuu/rookie_rss/rookie_rss", "x")) == "not_installed"
    assert registry.problem("ws", ToolRef("workflow", "wf", "t")) == "not_installed"
    before = EchoProvider.built
    store.add("ws", "mcp", "srv")
    assert registry.problem("ws", ToolRef("mcp", "srv", "anything")) is None and EchoProvider.built == before


def test_models_see_only_the_parameters_they_fill(registry):
    spec = registry.describe("ws", ToolRef("builtin", "tavily", "tavily_search"))
    assert set(spec.parameters["properties"]) == {"query"} and spec.parameters["required"] == ["query"]


def _keyed(*credentials: str) -> BuiltinSpec:
    """A stand-in for the native `time` built-in that needs credentials and echoes what it got."""
    def run(call: ToolCall) -> ToolResult:
        return ToolResult(text=call.context.workspace_id, variables={"creds": dict(call.credentials)})

    return BuiltinSpec(provider_id="time", label="Keyed", credentials=credentials,
                       tools=(BuiltinTool("now", "Now", (), run),))


def test_without_a_store_only_native_built_ins_resolve():
    registry = ToolRegistry(ProviderContext())
    assert registry.invoke("ws", ToolRef("builtin", "time", "current_time"), {"timezone": "UTC", "format": "%Z"}
                           ).text == "UTC"
    assert sorted(registry.kinds) == ["api", "mcp", "plugin", "workflow"]  # every installed kind by default
    with pytest.raises(ToolNotFound, match="^mcp tool provider 'srv' is not installed"):
        registry.invoke("ws", ToolRef("mcp", "srv", "echo"), {})


def test_builtins_can_be_replaced_and_are_reached_only_by_known_ids(store):
    registry = ToolRegistry(ProviderContext(), store, kinds={}, builtins={"time": _keyed()})
    assert registry.invoke("ws", ToolRef("builtin", "langgenius/time/time", "now"), {}).text == "ws"
    assert registry.invoke("ws2", ToolRef("builtin", "time", "now"), {}).text == "ws2"  # built per workspace
    bare = ToolRegistry(ProviderContext(), store, kinds={}, builtins={})
    with pytest.raises(ToolNotFound, match=r"^tool provider 'time' \(builtin\) is not available: Trellis has no "
                                           "native version of it and no plugin of that id is installed$"):
        bare.resolve("ws", ToolRef("builtin", "time", "current_time"))
    with pytest.raises(ToolNotFound, match=r"'md_exporter' \(plugin\) is not available"):
        bare.resolve("ws", ToolRef("plugin", "md_exporter", "x"))


def test_an_installed_plugin_needs_the_plugin_kind(store):
    store.add("ws", "plugin", "langgenius/time/time", credentials={"key": "k"})
    result = ToolRegistry(ProviderContext(), store, kinds={"plugin": EchoProvider}).invoke(
        "ws", ToolRef("plugin", "langgenius/time/time", "current_time"), {})
    assert result.variables["creds"] == {"key": "k"} and result.text == "ws"  # the plugin's own credentials
    without = ToolRegistry(ProviderContext(), store, kinds={"mcp": EchoProvider}, builtins={"time": _keyed()})
    assert without.invoke("ws", ToolRef("plugin", "langgenius/time/time", "now"), {}).variables["creds"] == {}


def test_builtin_credentials_are_the_workspace_s_own(store):
    store.add("ws", "builtin", "time", credentials={"api_key": "k1"})
    store.add("ws", "plugin", "time-helper", credentials={"api_key": "wrong"})
    registry = ToolRegistry(ProviderContext(), store, kinds={"plugin": EchoProvider},
                            builtins={"time": _keyed("api_key")})
    assert registry.invoke("ws", ToolRef("builtin", "time", "now"), {}).variables["creds"] == {"api_key": "k1"}
    with pytest.raises(ToolCredentialsMissing):  # a tool error of the domain passes through as it is
        registry.invoke("other", ToolRef("builtin", "time", "now"), {})


def test_missing_installations_name_the_provider_and_its_name(registry):
    with pytest.raises(ToolNotFound, match=r"^mcp tool provider 'srv-9' \(pdf\) is not installed in this "
                                           r"workspace: install it with POST /manage/v1/tool-providers$"):
        registry.resolve("ws", ToolRef("mcp", "srv-9", "t", provider_name="pdf"))
    with pytest.raises(ToolNotFound, match=r"^mcp tool provider 'srv-9' is not installed"):
        registry.resolve("ws", ToolRef("mcp", "srv-9", "t"))
    with pytest.raises(ToolNotFound, match=r"^tool provider kind 'api' is not supported \(provider 'p', tool 't'\)$"):
        registry.resolve("ws", ToolRef("api", "p", "t"))
    with pytest.raises(ToolNotFound, match=r"^tool 'nope' is not offered by provider 'time'$"):
        registry.describe("ws", ToolRef("builtin", "time", "nope"))


@pytest.mark.parametrize("url,transport", [
    ("https://mcp.example/sse", "sse"), ("HTTPS://mcp.example/sse/?key=k", "sse"),
    ("http://mcp.example/mcp", "streamable_http"), ("https://mcp.example/sse-like?x=/sse", "streamable_http"),
    ("https://mcp.example/sse/X", "streamable_http")])
def test_mcp_servers_named_by_url_need_no_installation(registry, store, url, transport):
    result = registry.invoke("ws", ToolRef("mcp", url, "echo"), {"q": 1})
    assert result.text == "ws" and result.variables["config"] == {"server_url": url, "transport": transport}
    assert result.variables["creds"] == {}
    built = EchoProvider.built
    registry.invoke("ws", ToolRef("mcp", url, "echo"), {})
    assert EchoProvider.built == built  # one client per server and workspace
    assert registry.invoke("ws2", ToolRef("mcp", url, "echo"), {}).text == "ws2"
    assert EchoProvider.built == built + 1
    assert registry.list_tools("ws", "mcp", url) == [ToolSpec(ToolRef("mcp", url, "echo"), "echo")]


def test_only_mcp_providers_may_be_named_by_url(store):
    registry = ToolRegistry(ProviderContext(), store, kinds={"mcp": EchoProvider, "workflow": EchoProvider})
    with pytest.raises(ToolNotFound, match="not installed"):
        registry.resolve("ws", ToolRef("workflow", "https://wf.example/sse", "t"))
    assert registry.problem("ws", ToolRef("mcp", "ftp://mcp.example", "t")) == "not_installed"
    with pytest.raises(ToolNotFound):
        registry.resolve("ws", ToolRef("mcp", "ftp://mcp.example/sse", "t"))
    # An installation under a URL id is used as installed, with its configuration and credentials.
    store.add("ws", "mcp", "https://mcp.example/sse", config={"server_url": "installed"}, credentials={"t": "1"})
    result = registry.invoke("ws", ToolRef("mcp", "https://mcp.example/sse", "echo"), {})
    assert result.variables["config"] == {"server_url": "installed"} and result.variables["creds"] == {"t": "1"}


class ListingFails(EchoProvider):
    def tools(self) -> list[ToolSpec]:
        raise ToolInvokeError("mcp.example did not answer")


def test_list_tools_of_one_provider(registry, store):
    store.add("ws", "mcp", "srv")
    assert registry.list_tools("ws", "mcp", "srv") == [ToolSpec(ToolRef("mcp", "srv", "echo"), "echo")]
    assert registry.describe("ws", ToolRef("mcp", "srv", "echo")).description == "echo"
    with pytest.raises(ToolNotFound, match=r"^tool provider kind 'api' is not supported \(provider 'p', tool ''\)"):
        registry.list_tools("ws", "api", "p")
    failing = ToolRegistry(ProviderContext(), store, kinds={"mcp": ListingFails})
    with pytest.raises(ToolNotFound, match="^mcp.example did not answer$"):
        failing.list_tools("ws", "mcp", "srv")


def test_adapter_bugs_are_logged_naming_the_tool(registry, store, caplog):
    store.add("ws", "mcp", "srv")
    with caplog.at_level(logging.WARNING, logger="app.tools.registry"), pytest.raises(ToolInvokeError):
        registry.invoke("ws", ToolRef("mcp", "srv", "boom"), {})
    assert caplog.messages == ["tool mcp:srv/boom raised RuntimeError"]


def _strict(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> EchoProvider:
    TypeAdapter(dict[str, dict[str, int]]).validate_python(config)
    return EchoProvider(provider_id, config, context)


def _whole(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> EchoProvider:
    TypeAdapter(int).validate_python(config)  # an error about the whole configuration: no location
    raise AssertionError("unreachable")


def test_build_checks_a_configuration_without_caching(store):
    registry = ToolRegistry(ProviderContext(), store, kinds={"api": _strict, "workflow": _whole,
                                                             "builtin": EchoProvider})
    built = EchoProvider.built
    provider = registry.build("ws", "api", "p", {"a": {"n": 1}})
    assert provider.context.workspace_id == "ws" and provider.config == {"a": {"n": 1}} and provider.provider_id == "p"
    assert registry.build("ws", "api", "p", {"a": {"n": 1}}) is not provider and EchoProvider.built == built + 2
    with pytest.raises(InvalidParam, match=r"^invalid api provider configuration: b\.n: Input should be a valid "
                                           "integer") as bad:
        registry.build("ws", "api", "p", {"a": {"n": 1}, "b": {"n": "x"}})
    assert bad.value.extra == {"params": "config"}
    with pytest.raises(InvalidParam, match="^invalid workflow provider configuration: config: "):
        registry.build("ws", "workflow", "p", {})
    with pytest.raises(ToolNotFound, match=r"^tool provider kind 'builtin' cannot be installed; kinds: api, builtin, "
                                           "workflow$"):
        registry.build("ws", "builtin", "time", {})
    with pytest.raises(ToolNotFound, match="kind 'mcp' cannot be installed; kinds: none$"):
        ToolRegistry(ProviderContext(), store, kinds={}).build("ws", "mcp", "p", {})


def test_the_cache_is_bounded_and_forgotten_per_workspace(registry, store, monkeypatch):
    monkeypatch.setattr(registry_module, "CACHE_SIZE", 3)
    for ws in ("a", "b", "c"):
        store.add(ws, "mcp", "srv")
        registry.invoke(ws, ToolRef("mcp", "srv", "echo"), {})
    store.add("a", "mcp", "srv-2")
    built = EchoProvider.built
    registry.invoke("a", ToolRef("mcp", "srv-2", "echo"), {})  # a fourth: the three are dropped first
    registry.invoke("a", ToolRef("mcp", "srv-2", "echo"), {})
    assert EchoProvider.built == built + 1
    registry.invoke("b", ToolRef("mcp", "srv", "echo"), {})
    assert EchoProvider.built == built + 2
    registry.forget("a")
    registry.invoke("b", ToolRef("mcp", "srv", "echo"), {})
    assert EchoProvider.built == built + 2
    assert registry.invoke("a", ToolRef("mcp", "srv-2", "echo"), {}).text == "a"
    assert EchoProvider.built == built + 3


def test_two_installations_of_a_workspace_are_built_apart(registry, store):
    store.add("ws", "mcp", "one", config={"n": 1})
    store.add("ws", "mcp", "two", config={"n": 2})
    assert registry.invoke("ws", ToolRef("mcp", "one", "echo"), {}).variables["config"] == {"n": 1}
    assert registry.invoke("ws", ToolRef("mcp", "two", "echo"), {}).variables["config"] == {"n": 2}


def test_problem_of_each_kind(store):
    registry = ToolRegistry(ProviderContext(), store, kinds={"mcp": EchoProvider},
                            builtins={"time": _keyed("api_key", "region")})
    assert registry.problem("ws", ToolRef("api", "p", "t")) == "not_installed"  # a kind this registry lacks
    assert registry.problem("ws", ToolRef("mcp", "srv", "t", provider_name="pdf")) == "not_installed"
    store.add("ws", "mcp", "srv-1", name="pdf")
    assert registry.problem("ws", ToolRef("mcp", "srv", "t", provider_name="pdf")) is None
    ref = ToolRef("builtin", "time", "now")
    assert registry.problem("ws", ref) == "credentials_missing"
    store.add("ws", "builtin", "time", credentials={"api_key": "k", "region": ""})
    assert registry.problem("ws", ref) == "credentials_missing"  # an empty value is not set
    store.add("ws2", "builtin", "time", credentials={"api_key": "k", "region": "eu"})
    assert registry.problem("ws2", ref) is None
    assert registry.problem("ws2", ToolRef("builtin", "time", "later")) == "not_installed"
    # A plugin installed under the id answers for every tool name, credentials being the plugin's affair.
    store.add("ws", "plugin", "time")
    assert registry.problem("ws", ToolRef("plugin", "time", "anything")) is None
    assert registry.problem("ws", ToolRef("builtin", "time", "anything")) is None
