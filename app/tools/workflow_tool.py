"""Workflow-as-tool (`provider_type: workflow`): one published Trellis workflow app called from another.

The tool's parameters are the callee's start-node variables (as JSON Schema); invoking it runs the callee's
published graph inline, in the caller's worker thread, on the engine's `GraphRunner` with the worker's ports, and
returns its outputs the way Dify's workflow tool does (text: the outputs as JSON; json: [outputs]; files: the
file objects among them). The callee's node events are not streamed into the caller's run.

Two callables come in through `ProviderContext.extras`, provided by the wiring:
- `load_published_graph(workspace_id, app_id) -> Graph`: the app's published graph (AppUnavailable/NotFound
  when it has none);
- `run_graph(workspace_id, graph, inputs) -> RunOutcome`: one run of a graph; the standard one is
  `InlineGraphRun` in app/services/tools/graph_run.py (above the engine runner, which tools must not import).

Recursion is bounded: the chain of workflow apps being run on this thread of control is kept in a context
variable (the runner copies contexts into its branch threads), a call to an app already in the chain fails at
once, and the chain may not grow past `Limits.max_call_depth` (Dify's default of 5).
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.engine.graph import Graph
from app.engine.ports import ToolRef, ToolResult, ToolSpec
from app.engine.state import RunOutcome, RunStatus
from app.errors import ToolInvokeError, ToolNotFound, TrellisError
from app.tools.provider import ProviderContext

LoadPublishedGraph = Callable[[str, str], Graph]
RunGraph = Callable[[str, Graph, dict[str, Any]], RunOutcome]

# The workflow apps running as tools on this thread of control, outermost first.
_CALL_CHAIN: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("workflow_tool_chain", default=())
DEFAULT_MAX_DEPTH = 5  # the engine's default max_call_depth; the wiring passes the deployment's
SCHEMA_TYPES = {"text-input": "string", "paragraph": "string", "select": "string", "number": "number",
                "checkbox": "boolean", "file": "object", "file-list": "array", "json_object": "object"}


class WorkflowToolConfig(BaseModel):
    """What the registry stores: which app, in which workspace, under which tool name."""

    model_config = ConfigDict(extra="forbid")

    workspace_id: str
    app_id: str
    name: str
    description: str = ""


def parameters_schema(graph: Graph) -> dict[str, Any]:
    """JSON Schema of the callee's start variables."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for var in graph.start.data.variables:
        prop: dict[str, Any] = {"type": SCHEMA_TYPES.get(var.type, "string")}
        label = var.label.get("en_US") if isinstance(var.label, dict) else var.label
        if label:
            prop["description"] = str(label)
        if var.type == "select" and var.options:
            prop["enum"] = list(var.options)
        if var.default not in (None, ""):
            prop["default"] = var.default
        properties[var.variable] = prop
        if var.required:
            required.append(var.variable)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


class WorkflowToolProvider:
    provider_type = "workflow"

    def __init__(self, provider_id: str, config: WorkflowToolConfig, load: LoadPublishedGraph, run: RunGraph,
                 max_depth: int) -> None:
        self.provider_id = provider_id
        self.config = config
        self._load = load
        self._run = run
        self._max_depth = max_depth

    def _graph(self) -> Graph:
        try:
            return self._load(self.config.workspace_id, self.config.app_id)
        except TrellisError as exc:
            raise ToolNotFound(f"workflow tool {self.config.name!r}: app {self.config.app_id} has no published "
                               f"workflow ({exc.message})") from exc

    def tools(self) -> list[ToolSpec]:
        return [ToolSpec(ToolRef("workflow", self.provider_id, self.config.name), self.config.description,
                         parameters_schema(self._graph()))]

    def invoke(self, tool_name: str, arguments: dict[str, Any], credentials: Mapping[str, str]) -> ToolResult:
        """Run the callee once. Raises ToolNotFound (wrong name, app not published), ToolInvokeError (bad
        arguments, recursion, the callee's run failed)."""
        if tool_name != self.config.name:
            raise ToolNotFound(f"workflow provider {self.provider_id!r} has no tool {tool_name!r}")
        chain = _CALL_CHAIN.get()
        if self.config.app_id in chain:
            raise ToolInvokeError(f"workflow tool {tool_name!r} calls its own app recursively")
        if len(chain) >= self._max_depth:
            raise ToolInvokeError(f"workflow tools nest deeper than {self._max_depth} calls")
        graph = self._graph()
        try:
            inputs = graph.start.validate_inputs(dict(arguments))
        except TrellisError as exc:
            raise ToolInvokeError(f"workflow tool {tool_name!r}: {exc.message}") from exc
        token = _CALL_CHAIN.set((*chain, self.config.app_id))
        try:
            outcome = self._run(self.config.workspace_id, graph, inputs)
        finally:
            _CALL_CHAIN.reset(token)
        if outcome.status != RunStatus.succeeded:
            raise ToolInvokeError(f"workflow tool {tool_name!r} {outcome.status.value}: {outcome.error or 'no reason'}")
        return dataclasses.replace(fold_outputs(outcome.outputs), total_tokens=outcome.total_tokens)


def fold_outputs(outputs: dict[str, Any]) -> ToolResult:
    files = tuple(v for v in _values(outputs) if isinstance(v, dict) and "transfer_method" in v)
    return ToolResult(text=json.dumps(outputs, ensure_ascii=False, default=str), json=(dict(outputs),), files=files)


def _values(outputs: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for value in outputs.values():
        found += value if isinstance(value, list) else [value]
    return found


def from_config(provider_id: str, config: Mapping[str, Any], context: ProviderContext) -> WorkflowToolProvider:
    """The factory the registry's KINDS map holds for `workflow`. Needs `load_published_graph` and `run_graph` in
    `context.extras` (and takes `max_call_depth` from there too, default 5)."""
    load, run = context.extras.get("load_published_graph"), context.extras.get("run_graph")
    if not callable(load) or not callable(run):
        raise ToolNotFound("workflow tools are not wired in this process (load_published_graph, run_graph)")
    depth = int(context.extras.get("max_call_depth", DEFAULT_MAX_DEPTH))
    return WorkflowToolProvider(provider_id, WorkflowToolConfig.model_validate(dict(config)), load, run, depth)
