"""Workflow-as-tool: a published workflow's graph run inline on the real GraphRunner, called through a small
in-test ToolRuntime (`TinyRegistry`; the registry and the tool node live elsewhere), with the recursion guards."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.graph import Graph
from app.engine.ports import LLMRequest, ToolRef
from app.engine.state import RunOutcome
from app.errors import AppUnavailable, ToolInvokeError, ToolNotFound
from app.services.tools.graph_run import InlineGraphRun
from app.tools import workflow_tool
from app.tools.provider import ProviderContext
from app.wiring import Container
from tests.app.engine.harness import MODEL, ScriptedLLM, chain, end, graph, node
from tests.app.tools.tiny_registry import TinyRegistry
from tests.conftest import SAMPLES

WS = "ws-1"


def callee() -> Graph:
    """greet(name, times?) -> {greeting, shout}: a template and an LLM node (the LLM echoes its prompt)."""
    start = node("start", "start", variables=[
        {"variable": "name", "type": "text-input", "label": "Who to greet", "required": True},
        {"variable": "tone", "type": "select", "options": ["warm", "dry"], "default": "warm"},
        {"variable": "times", "type": "number"}])
    template = node("t", "template-transform", template="Hello {{ name }} ({{ tone }})",
                    variables=[{"variable": "name", "value_selector": ["start", "name"]},
                               {"variable": "tone", "value_selector": ["start", "tone"]}])
    llm = node("l", "llm", model=MODEL, prompt_template=[{"role": "user", "text": "{{#t.output#}}!"}])
    return graph([start, template, llm, end(greeting=["t", "output"], shout=["l", "text"])],
                 chain("start", "t", "l", "end"))


def install(registry: TinyRegistry, provider_id: str, app_id: str, name: str, load: Any, run: Any) -> None:
    context = ProviderContext(extras={"load_published_graph": load, "run_graph": run})
    registry.add(workflow_tool.from_config(
        provider_id, {"workspace_id": WS, "app_id": app_id, "name": name, "description": "Greets"}, context))


def test_parameters_come_from_the_start_variables() -> None:
    registry = TinyRegistry()
    install(registry, "wf-greet", "app-greet", "greet", lambda ws, app: callee(),
            InlineGraphRun(ScriptedLLM()))
    spec = registry.describe(WS, ToolRef("workflow", "wf-greet", "greet"))
    assert spec.description == "Greets"
    assert spec.parameters == {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "description": "Who to greet"},
        "tone": {"type": "string", "enum": ["warm", "dry"], "default": "warm"},
        "times": {"type": "number"}}}


def test_invoking_runs_the_callee_graph() -> None:
    llm = ScriptedLLM(lambda request: request.messages[-1].content.upper())
    loaded: list[tuple[str, str]] = []

    def load(workspace_id: str, app_id: str) -> Graph:
        loaded.append((workspace_id, app_id))
        return callee()
    registry = TinyRegistry()
    install(registry, "wf-greet", "app-greet", "greet", load, InlineGraphRun(llm))
    result = registry.invoke(WS, ToolRef("workflow", "wf-greet", "greet"), {"name": "Ada"})
    assert result.json == ({"greeting": "Hello Ada (warm)", "shout": "HELLO ADA (WARM)!"},)
    assert result.text == '{"greeting": "Hello Ada (warm)", "shout": "HELLO ADA (WARM)!"}'
    assert loaded == [(WS, "app-greet")]
    assert isinstance(llm.requests[0], LLMRequest)


def test_bad_arguments_unknown_tools_and_unpublished_apps() -> None:
    registry = TinyRegistry()
    install(registry, "wf", "app-greet", "greet", lambda ws, app: callee(),
            InlineGraphRun(ScriptedLLM()))
    with pytest.raises(ToolInvokeError, match="name is required"):
        registry.invoke(WS, ToolRef("workflow", "wf", "greet"), {})
    with pytest.raises(ToolNotFound):
        registry.invoke(WS, ToolRef("workflow", "wf", "other"), {"name": "x"})

    def unpublished(workspace_id: str, app_id: str) -> Graph:
        raise AppUnavailable()
    install(registry, "gone", "app-gone", "gone", unpublished, InlineGraphRun(ScriptedLLM()))
    with pytest.raises(ToolNotFound, match="no published workflow"):
        registry.invoke(WS, ToolRef("workflow", "gone", "gone"), {})
    with pytest.raises(ToolNotFound, match="not wired"):
        workflow_tool.from_config("x", {"workspace_id": WS, "app_id": "a", "name": "n"}, ProviderContext())


def test_a_failing_callee_fails_the_tool() -> None:
    failing = graph([node("start", "start", variables=[{"variable": "q", "type": "text-input"}]),
                     node("t", "template-transform", template="{{ q.missing.deeper }}",
                          variables=[{"variable": "q", "value_selector": ["start", "q"]}]),
                     end(out=["t", "output"])], chain("start", "t", "end"))
    registry = TinyRegistry()
    install(registry, "wf", "app-bad", "bad", lambda ws, app: failing, InlineGraphRun(ScriptedLLM()))
    with pytest.raises(ToolInvokeError, match="'bad' failed"):
        registry.invoke(WS, ToolRef("workflow", "wf", "bad"), {"q": "x"})


def test_recursion_is_refused() -> None:
    """A callee whose run calls the tool again (as a tool node inside it would) stops at once."""
    registry = TinyRegistry()
    inner = InlineGraphRun(ScriptedLLM())

    def run_and_call_back(workspace_id: str, g: Graph, inputs: dict[str, Any]) -> RunOutcome:
        registry.invoke(workspace_id, ToolRef("workflow", "self", "me"), inputs)
        return inner(workspace_id, g, inputs)
    install(registry, "self", "app-self", "me", lambda ws, app: callee(), run_and_call_back)
    with pytest.raises(ToolInvokeError, match="calls its own app recursively"):
        registry.invoke(WS, ToolRef("workflow", "self", "me"), {"name": "x"})


def test_depth_is_limited() -> None:
    """a0 -> a1 -> ... each a different app: the sixth nested call is refused (Dify's depth of 5)."""
    registry = TinyRegistry()
    inner = InlineGraphRun(ScriptedLLM())
    reached: list[int] = []

    def chained(index: int) -> Any:
        def run(workspace_id: str, g: Graph, inputs: dict[str, Any]) -> RunOutcome:
            reached.append(index)
            registry.invoke(workspace_id, ToolRef("workflow", f"p{index + 1}", f"t{index + 1}"), inputs)
            return inner(workspace_id, g, inputs)
        return run
    for index in range(8):
        install(registry, f"p{index}", f"app-{index}", f"t{index}", lambda ws, app: callee(), chained(index))
    with pytest.raises(ToolInvokeError, match="deeper than 5"):
        registry.invoke(WS, ToolRef("workflow", "p0", "t0"), {"name": "x"})
    assert reached == [0, 1, 2, 3, 4]
    # The chain is unwound afterwards: a fresh call starts from depth 0 again.
    install(registry, "solo", "app-solo", "solo", lambda ws, app: callee(), inner)
    assert registry.invoke(WS, ToolRef("workflow", "solo", "solo"), {"name": "y"}).json[0]["greeting"] == \
        "Hello y (warm)"


def test_the_callee_run_is_bounded_by_the_tool_timeout() -> None:
    registry = TinyRegistry()
    slow = InlineGraphRun(ScriptedLLM(delay=0.6), timeout_seconds=0.3)
    assert slow.limits.max_seconds == 0.3
    install(registry, "wf", "app-slow", "slow", lambda ws, app: callee(), slow)
    with pytest.raises(ToolInvokeError, match="'slow' (failed|stopped)"):
        registry.invoke(WS, ToolRef("workflow", "wf", "slow"), {"name": "x"})


def test_on_the_production_path(container: Container) -> None:
    """The extras exactly as the wiring builds them: a published app from the database, the worker's LLM gateway,
    node services and limits."""
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    context = ProviderContext(timeout_seconds=30.0, extras={
        "load_published_graph": lambda ws, app_id: container.apps.published(ws, app_id).graph,
        "run_graph": InlineGraphRun(container.llm, container.node_services, container.limits, 30.0),
        "max_call_depth": container.limits.max_call_depth})
    registry = TinyRegistry()
    registry.add(workflow_tool.from_config("wf-hello", {"workspace_id": workspace, "app_id": app.id,
                                                        "name": "hello"}, context))
    ref = ToolRef("workflow", "wf-hello", "hello")
    assert registry.describe(workspace, ref).parameters["properties"]["name"] == {"type": "string",
                                                                                  "description": "Your name"}
    result = registry.invoke(workspace, ref, {"name": "Ada Lovelace"})
    assert result.json == ({"greeting": "Hello, Ada Lovelace! Nice to meet you, Ada."},)
    with pytest.raises(ToolNotFound, match="no published workflow"):
        workflow_tool.from_config("gone", {"workspace_id": workspace, "app_id": "missing", "name": "x"},
                                  context).tools()
