"""The workflows the benchmarks run, built as Dify DSL documents."""

from __future__ import annotations

from typing import Any

import yaml


def _start() -> dict[str, Any]:
    return {"id": "start", "data": {"type": "start", "title": "Start",
                                    "variables": [{"variable": "q", "type": "text-input", "required": True}]}}


def _template(node_id: str, source: str) -> dict[str, Any]:
    selector = [source, "q" if source == "start" else "output"]
    return {"id": node_id, "data": {"type": "template-transform", "title": node_id, "template": "{{ x }}!",
                                    "variables": [{"variable": "x", "value_selector": selector}]}}


def _end(sources: list[str]) -> dict[str, Any]:
    return {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
        {"variable": f"out_{s}", "value_selector": [s, "output" if not s.startswith("llm") else "text"]}
        for s in sources]}}


def _doc(name: str, nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    return yaml.safe_dump({"app": {"name": name, "mode": "workflow"}, "version": "0.3.1", "workflow": {
        "graph": {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in edges]}}})


def template_flow() -> str:
    """start -> template -> end: pure orchestration, no LLM."""
    return _doc("bench-template", [_start(), _template("t1", "start"), _end(["t1"])],
                [("start", "t1"), ("t1", "end")])


def linear_flow(length: int = 10) -> str:
    """`length` nodes in a line: start, templates, end."""
    ids = [f"t{i}" for i in range(1, length - 1)]
    nodes = [_start()] + [_template(n, "start" if i == 0 else ids[i - 1]) for i, n in enumerate(ids)]
    chain = ["start", *ids, "end"]
    return _doc("bench-linear", nodes + [_end([ids[-1]])], list(zip(chain, chain[1:], strict=False)))


def parallel_flow(width: int = 3) -> str:
    """start fans out to `width` templates that join at end."""
    ids = [f"p{i}" for i in range(width)]
    edges = [("start", n) for n in ids] + [(n, "end") for n in ids]
    return _doc("bench-parallel", [_start()] + [_template(n, "start") for n in ids] + [_end(ids)], edges)


def llm_flow(name: str = "bench-llm", provider: str = "openai", model: str = "bench") -> str:
    """start -> LLM -> end."""
    llm = {"id": "llm1", "data": {"type": "llm", "title": "LLM",
                                  "model": {"provider": provider, "name": model, "mode": "chat"},
                                  "prompt_template": [{"role": "user", "text": "{{#start.q#}}"}]}}
    return _doc(name, [_start(), llm, _end(["llm1"])], [("start", "llm1"), ("llm1", "end")])


def llm_template_flow(name: str, provider: str, model: str) -> str:
    """start -> LLM -> template -> end: an answer post-processed by a template node."""
    llm = {"id": "llm1", "data": {"type": "llm", "title": "LLM",
                                  "model": {"provider": provider, "name": model, "mode": "chat"},
                                  "prompt_template": [{"role": "user", "text": "{{#start.q#}}"}]}}
    template = {"id": "t1", "data": {"type": "template-transform", "title": "t1", "template": "Report: {{ x }}",
                                     "variables": [{"variable": "x", "value_selector": ["llm1", "text"]}]}}
    return _doc(name, [_start(), llm, template, _end(["t1"])], [("start", "llm1"), ("llm1", "t1"), ("t1", "end")])


def http_flow(name: str = "bench-http") -> str:
    """start -> http-request (GET the URL given as input `url`) -> end: fails when that URL does not answer."""
    start = {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
        {"variable": "url", "type": "text-input", "required": True}]}}
    http = {"id": "http1", "data": {"type": "http-request", "title": "HTTP", "method": "GET",
                                    "url": "{{#start.url#}}", "timeout": {"connect": 2, "read": 5}}}
    end = {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
        {"variable": "status", "value_selector": ["http1", "status_code"]}]}}
    return _doc(name, [start, http, end], [("start", "http1"), ("http1", "end")])


def two_llm_flow() -> str:
    """start -> LLM -> LLM -> end: the second node sees the first's answer, so a resume is observable."""
    def llm(node_id: str, prompt: str) -> dict[str, Any]:
        return {"id": node_id, "data": {"type": "llm", "title": node_id,
                                        "model": {"provider": "openai", "name": "stub", "mode": "chat"},
                                        "prompt_template": [{"role": "user", "text": prompt}]}}

    return _doc("two-llms", [_start(), llm("first", "first step: {{#start.q#}}"),
                             llm("second", "second step: {{#first.text#}}"),
                             {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
                                 {"variable": "answer", "value_selector": ["second", "text"]}]}}],
                [("start", "first"), ("first", "second"), ("second", "end")])
