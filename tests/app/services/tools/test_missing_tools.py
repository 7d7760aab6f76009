"""What an import reports about tools (`app.services.apps.missing_tools`): every tool node, inside iteration
bodies too, checked against the workspace through the registry."""

from __future__ import annotations

from app.services.apps import missing_tools
from app.tools.provider import ProviderContext
from app.tools.registry import ToolRegistry
from tests.app.engine.harness import edge, end, graph, node, start
from tests.app.tools.memory_store import MemoryStore


def tool(node_id: str, provider_type: str, provider_id: str, name: str, parent: str | None = None) -> dict:
    return node(node_id, "tool", parent=parent, provider_type=provider_type, provider_id=provider_id,
                provider_name=provider_id, tool_name=name)


def test_tools_at_top_level_and_inside_an_iteration_are_checked():
    g = graph([start("items"), tool("now", "builtin", "time", "current_time"),
               node("it", "iteration", iterator_selector=["start", "items"], output_selector=["inner", "text"]),
               node("its", "iteration-start", parent="it"),
               tool("inner", "api", "uuid-9", "fetch", parent="it"),
               tool("search", "builtin", "tavily", "tavily_search"), end(out=["it", "output"])],
              [edge("start", "now"), edge("now", "it"), edge("it", "search"), edge("search", "end"),
               edge("its", "inner")])
    store = MemoryStore()
    registry = ToolRegistry(ProviderContext(), store)
    found = {(m["node_id"], m["reason"]) for m in missing_tools(g, "ws", registry)}
    assert found == {("inner", "not_installed"), ("search", "credentials_missing")}
    store.add("ws", "api", "uuid-9")
    store.add("ws", "builtin", "tavily", credentials={"api_key": "k"})
    assert missing_tools(g, "ws", registry) == []
    assert {m["node_id"] for m in missing_tools(g, "ws", None)} == {"now", "inner", "search"}
