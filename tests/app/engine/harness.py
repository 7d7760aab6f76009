"""Build small workflows from dicts and run them on the real GraphRunner with in-memory ports (a scripted
LLM, a list of events). Shared by the engine and node tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.engine.dsl import WorkflowSpec
from app.engine.graph import Graph, build_graph
from app.engine.ports import EnginePorts, LLMRequest, LLMResult, LLMUsage, NodeServices
from app.engine.runner import GraphRunner, Limits
from app.engine.state import RunOutcome

MODEL = {"provider": "openai", "name": "m", "mode": "chat"}


class ScriptedLLM:
    """Answers with `reply(request)` (default "ok") after `delay` seconds, streamed as one delta."""

    def __init__(self, reply: str | Callable[[LLMRequest], str] = "ok", delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        self.requests.append(request)
        if self.delay:
            time.sleep(self.delay)
        text = self.reply(request) if callable(self.reply) else self.reply
        on_delta(text)
        return LLMResult(text=text, usage=LLMUsage(3, 2))


def node(node_id: str, node_type: str, parent: str | None = None, **data: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": node_id, "data": {"type": node_type, "title": node_id, **data}}
    if parent:
        spec["parentId"] = parent
    return spec


def start(*variables: str) -> dict[str, Any]:
    return node("start", "start", variables=[{"variable": v, "type": "text-input"} for v in variables])


def end(**outputs: list[str]) -> dict[str, Any]:
    return node("end", "end", outputs=[{"variable": k, "value_selector": v} for k, v in outputs.items()])


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {"id": f"{source}-{handle}-{target}", "source": source, "target": target, "sourceHandle": handle}


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in zip(ids, ids[1:], strict=False)]


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **workflow: Any) -> Graph:
    return build_graph(WorkflowSpec.model_validate({"graph": {"nodes": nodes, "edges": edges}, **workflow}))


@dataclass
class Run:
    outcome: RunOutcome
    runner: GraphRunner
    events: list[Any] = field(default_factory=list)

    def record(self, node_id: str) -> Any:
        return self.runner.records[node_id]


def run(g: Graph, inputs: dict[str, Any] | None = None, llm: Any = None, services: NodeServices | None = None,
        limits: Limits | None = None, **kwargs: Any) -> Run:
    events: list[Any] = []
    ports = EnginePorts(llm=llm or ScriptedLLM(), emit=events.append, services=services or NodeServices())
    runner = GraphRunner(g, ports, limits)
    outcome = runner.run(inputs or {}, **kwargs)
    return Run(outcome, runner, events)


class FixedRetriever:
    """A knowledge port that finds one chunk about the query in the first dataset named."""

    def __init__(self, prefix: str = "Docs on") -> None:
        self.prefix = prefix

    def retrieve(self, workspace_id, dataset_ids, query, top_k, score_threshold, search_method):
        return [{"content": f"{self.prefix} {query}", "title": "install.md",
                 "metadata": {"score": 0.8, "dataset_id": dataset_ids[0], "document_id": "doc"}}]
