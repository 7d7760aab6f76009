"""Running a workflow tool's callee graph inline: the `run_graph` the wiring gives the workflow-as-tool kind
(app/tools/workflow_tool.py). It lives here, above the engine runner, because tools sit beside the providers and
must not import the runner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from app.engine.graph import Graph
from app.engine.ports import EnginePorts, LLMGateway, NodeServices
from app.engine.runner import GraphRunner, Limits
from app.engine.state import RunOutcome

# The model gateway of the run that is calling workflow tools (metered to its app and run, traced in its trace).
# A context variable because tool calls reach here through the tool port, which carries no run; the engine
# copies the context into its branch and iteration threads.
_caller_llm: ContextVar[LLMGateway | None] = ContextVar("trellis_caller_llm", default=None)


@contextmanager
def calls_billed_to(llm: LLMGateway) -> Iterator[None]:
    """Within this block, workflow tools' callee runs call models through `llm`: their tokens and cost count
    for the calling run and its app, not for nobody."""
    token = _caller_llm.set(llm)
    try:
        yield
    finally:
        _caller_llm.reset(token)


class InlineGraphRun:
    """`run_graph` for the wiring: runs a callee graph on the engine runner with the worker's LLM gateway and node
    services (so tools inside the callee work too), dropping its events and checkpoints. The run's time limit is
    the smaller of the engine's and `timeout_seconds` (a tool call is bounded). Thread-safe."""

    def __init__(self, llm: LLMGateway, services: NodeServices | None = None, limits: Limits | None = None,
                 timeout_seconds: float | None = None) -> None:
        self.llm = llm
        self.services = services or NodeServices()
        limits = limits or Limits()
        self.limits = replace(limits, max_seconds=min(limits.max_seconds, timeout_seconds or limits.max_seconds))

    def __call__(self, workspace_id: str, graph: Graph, inputs: dict[str, Any]) -> RunOutcome:
        ports = EnginePorts(llm=_caller_llm.get() or self.llm, emit=lambda event: None, services=self.services,
                            workspace_id=workspace_id)
        system = {"workflow_run_id": str(uuid.uuid4()), "user_id": "workflow-tool", "files": []}
        return GraphRunner(graph, ports, self.limits).run(inputs, system)
