"""The `tool` node on the real runner: arguments from `tool_parameters` (mixed, variable, constant) and
`tool_configurations` (bare or typed values), Dify's outputs, and clear failures when the tool cannot run."""

from __future__ import annotations

import json
from typing import Any

from app.engine.ports import NodeServices, ToolRef, ToolResult, ToolSpec
from app.engine.state import RunStatus
from app.errors import ToolNotFound
from app.tools.provider import ProviderContext
from app.tools.registry import ToolRegistry
from tests.app.engine.harness import chain, end, graph, node, run, start


class RecordingTools:
    """A ToolRuntime that records what it was asked and answers a fixed result."""

    def __init__(self, result: ToolResult | None = None) -> None:
        self.calls: list[tuple[str, ToolRef, dict[str, Any]]] = []
        self.result = result or ToolResult(text="done")

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        return ToolSpec(ref)

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        self.calls.append((workspace_id, ref, arguments))
        return self.result


def tool_graph(**data: Any) -> Any:
    return graph([start("q", "n"), node("t", "tool", **data),
                  end(text=["t", "text"], json=["t", "json"], files=["t", "files"])], chain("start", "t", "end"))


def test_parameters_and_configurations_are_resolved():
    tools = RecordingTools()
    g = tool_graph(provider_type="builtin", provider_id="langgenius/x/x", provider_name="x", tool_name="do",
                   tool_parameters={"text": {"type": "mixed", "value": "Q: {{#start.q#}}!"},
                                    "items": {"type": "variable", "value": ["start", "n"]},
                                    "fixed": {"type": "constant", "value": 3},
                                    "old_style": "plain"},
                   tool_configurations={"format": "%Y", "model": {"type": "constant", "value": "m1"},
                                        "lang": {"type": "mixed", "value": "{{#start.q#}}"}})
    result = run(g, {"q": "why", "n": [1, 2]}, services=NodeServices(tools=tools))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    (_, ref, args), = tools.calls
    assert ref == ToolRef("builtin", "langgenius/x/x", "do") and ref.provider_name == "x"
    assert args == {"text": "Q: why!", "items": [1, 2], "fixed": 3, "old_style": "plain", "format": "%Y",
                    "model": "m1", "lang": "why"}
    assert result.record("t").inputs == args
    assert result.record("t").metadata["tool_info"]["tool_name"] == "do"


def test_outputs_are_text_files_json_and_variables():
    tools = RecordingTools(ToolResult(text="hi", json=({"a": 1},), files=({"filename": "f.txt"},),
                                      variables={"score": 7, "text": "not me"}))
    result = run(tool_graph(provider_id="p", tool_name="t"), {"q": "", "n": []}, services=NodeServices(tools=tools))
    assert result.outcome.outputs == {"text": "hi", "json": [{"a": 1}], "files": [{"filename": "f.txt"}]}
    assert result.record("t").outputs["score"] == 7


def test_a_real_built_in_through_the_registry():
    registry = ToolRegistry(ProviderContext())
    g = tool_graph(provider_type="builtin", provider_id="json_process", tool_name="json_parse",
                   tool_parameters={"content": {"type": "mixed", "value": "{{#start.q#}}"},
                                    "json_filter": {"type": "mixed", "value": "$.a[1]"}})
    result = run(g, {"q": json.dumps({"a": ["x", "y"]}), "n": []}, services=NodeServices(tools=registry))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs["text"] == "y"


def test_a_missing_tool_fails_the_run_naming_it():
    registry = ToolRegistry(ProviderContext())
    g = tool_graph(provider_type="builtin", provider_id="jaguarliuu/rookie_rss/rookie_rss", tool_name="rookie_rss")
    result = run(g, {"q": "", "n": []}, services=NodeServices(tools=registry))
    assert result.outcome.status == RunStatus.failed
    assert "jaguarliuu/rookie_rss/rookie_rss" in (result.outcome.error or "")
    assert result.record("t").status.value == "failed"


def test_without_a_tool_runtime_the_node_fails_clearly():
    result = run(tool_graph(provider_id="time", tool_name="current_time"), {"q": "", "n": []})
    assert result.outcome.status == RunStatus.failed
    assert "time/current_time" in (result.outcome.error or "") and "no tool runtime" in (result.outcome.error or "")


def test_selectors_are_checked_at_import_and_refs_reported():
    g = tool_graph(provider_type="api", provider_id="uuid-1", provider_name="Kolors", tool_name="gen",
                   tool_parameters={"p": {"type": "variable", "value": ["start", "q"]}})
    assert g.nodes["t"].tool_refs() == [ToolRef("api", "uuid-1", "gen")]
    dangling = tool_graph(provider_id="p", tool_name="t",
                          tool_parameters={"p": {"type": "mixed", "value": "{{#ghost.x#}}"}})
    assert dangling.nodes["t"].dangling == ("ghost.x",)


def test_a_failing_tool_can_fall_back_to_default_values():
    class Missing(RecordingTools):
        def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
            raise ToolNotFound("tool x/y is not installed")

    g = tool_graph(provider_id="x", tool_name="y", error_strategy="default-value",
                   default_value=[{"key": "text", "type": "string", "value": "fallback"}])
    result = run(g, {"q": "", "n": []}, services=NodeServices(tools=Missing()))
    assert result.outcome.status == RunStatus.partial_succeeded and result.outcome.outputs["text"] == "fallback"
    assert "not installed" in (result.record("t").error or "")
