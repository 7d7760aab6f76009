"""The registry: Dify provider ids resolved to native built-ins, installed providers found by id or name and
built by their kind's factory (cached per installation version), credentials per workspace, import checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.errors import ToolCredentialsMissing, ToolInvokeError, ToolNotFound
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
