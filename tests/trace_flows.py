"""Workflows the tracing tests run: an LLM node beside an iteration whose body calls the LLM per item (a
parallel branch and nested rounds), laid out with positions like a Dify export."""

from __future__ import annotations

from typing import Any

import yaml


def _llm(node_id: str, prompt: str, model: str, parent: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": node_id, "data": {"type": "llm", "title": node_id, "model": {
        "provider": "openai", "name": model, "mode": "chat"}, "prompt_template": [{"role": "user", "text": prompt}]}}
    if parent:
        spec["parentId"] = parent
    return spec


def traced_flow(model: str = "trace-model") -> str:
    """start -> (llm1 | iteration over `items` with an LLM per item) -> end."""
    nodes = [
        {"id": "start", "position": {"x": 30, "y": 200},
         "data": {"type": "start", "title": "Start", "variables": [
             {"variable": "q", "type": "text-input", "required": True}]}},
        {**_llm("llm1", "answer {{#start.q#}}", model), "position": {"x": 330, "y": 80}},
        {"id": "it", "position": {"x": 330, "y": 320}, "data": {
            "type": "iteration", "title": "Each item", "iterator_selector": ["start", "items"],
            "output_selector": ["ask", "text"], "start_node_id": "it-start"}},
        {"id": "it-start", "parentId": "it", "data": {"type": "iteration-start", "title": ""}},
        _llm("ask", "describe {{#it.item#}}", model, parent="it"),
        {"id": "end", "position": {"x": 1000, "y": 200}, "data": {"type": "end", "title": "End", "outputs": [
            {"variable": "answer", "value_selector": ["llm1", "text"]},
            {"variable": "items", "value_selector": ["it", "output"]}]}},
    ]
    edges = [("start", "llm1"), ("start", "it"), ("it-start", "ask"), ("llm1", "end"), ("it", "end")]
    return yaml.safe_dump({"app": {"name": "traced", "mode": "workflow"}, "version": "0.3.1", "workflow": {
        "graph": {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in edges]}}})
