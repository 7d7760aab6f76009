"""Issue 14, attack 2 on the graph: a 980-node chain imported fine but every run answered 500 (the graph walks
recursed once per node). Import, validation and the runner's skipping of a branch must walk iteratively, and a
long chain must run to its end; deep node outputs must not crash secret masking either."""

from __future__ import annotations

import sys
from typing import Any

import yaml

from app.engine.masking import Masker
from app.errors import InvalidParam

CHAIN = 980


def chain_dsl(length: int, behind_branch: bool = False) -> str:
    """start -> t0 -> ... -> t{length-1} -> end. With `behind_branch`, an if-else sends short names straight to
    a second end, so the whole chain is skipped."""
    nodes: list[dict[str, Any]] = [{"id": "start", "data": {"type": "start", "title": "Start", "variables": [
        {"variable": "name", "label": "name", "type": "text-input", "required": True}]}}]
    edges: list[dict[str, Any]] = []
    previous, selector = "start", ["start", "name"]
    if behind_branch:
        nodes += [{"id": "branch", "data": {"type": "if-else", "title": "long?", "cases": [{
            "case_id": "true", "logical_operator": "and", "conditions": [{
                "variable_selector": ["start", "name"], "comparison_operator": "contains", "value": " "}]}]}},
                  {"id": "quick_end", "data": {"type": "end", "title": "quick", "outputs": [
                      {"variable": "out", "value_selector": ["start", "name"]}]}}]
        edges += [{"source": "start", "target": "branch"},
                  {"source": "branch", "target": "quick_end", "sourceHandle": "false"}]
        previous = "branch"
    for i in range(length):
        nodes.append({"id": f"t{i}", "data": {"type": "template-transform", "title": f"t{i}", "template": "{{ x }}",
                                              "variables": [{"variable": "x", "value_selector": selector}]}})
        edges.append({"source": previous, "target": f"t{i}",
                      "sourceHandle": "true" if previous == "branch" else "source"})
        previous, selector = f"t{i}", [f"t{i}", "output"]
    nodes.append({"id": "end", "data": {"type": "end", "title": "End",
                                        "outputs": [{"variable": "out", "value_selector": selector}]}})
    edges.append({"source": previous, "target": "end"})
    return yaml.safe_dump({"app": {"name": "chain", "mode": "workflow"}, "kind": "app", "version": "0.3.1",
                           "workflow": {"graph": {"nodes": nodes, "edges": edges}}})


def _run(client, headers, name: str) -> dict[str, Any]:
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"name": name}, "response_mode": "blocking", "user": "u"})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])


def test_a_980_node_chain_imports_and_runs(make_settings, llm_server):
    from app import create_app
    from tests.conftest import ADMIN, app_key, build_test_container, import_app

    container = build_test_container(make_settings(max_steps=CHAIN + 10))
    try:
        app = create_app(container.settings, container)
        container.accounts.ensure_admin_token(ADMIN)
        client = app.test_client()
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(400)  # far below the chain's length: any recursive walk over it fails here
        try:
            headers = app_key(client, import_app(client, chain_dsl(CHAIN)))
            data = _run(client, headers, "Ada")
            skipped_headers = app_key(client, import_app(client, chain_dsl(CHAIN, behind_branch=True)))
            skipped = _run(client, skipped_headers, "Ada")
        finally:
            sys.setrecursionlimit(limit)
        assert data["status"] == "succeeded", data["error"]
        assert data["outputs"] == {"out": "Ada"} and data["total_steps"] == CHAIN + 2
        assert skipped["status"] == "succeeded" and skipped["outputs"] == {"out": "Ada"}
    finally:
        container.close()


def test_a_cycle_in_a_long_chain_is_still_found():
    from app.engine.dsl import DslDocument
    from app.engine.graph import build_graph

    doc = yaml.safe_load(chain_dsl(CHAIN))
    doc["workflow"]["graph"]["edges"].append({"source": f"t{CHAIN - 1}", "target": "t3"})
    try:
        build_graph(DslDocument.model_validate(doc).workflow)
    except InvalidParam as exc:
        assert "cycle" in str(exc) and f"t{CHAIN - 1} -> t3" in str(exc)
    else:
        raise AssertionError("the cycle was not found")


def test_masking_walks_deep_outputs_without_recursion():
    deep: Any = "the secret sk-123 here"
    for _ in range(5000):
        deep = {"k": [deep]}
    masked = Masker(["sk-123"]).mask(deep)
    for _ in range(5000):
        masked = masked["k"][0]
    assert masked == "the secret ****** here"


def test_code_outputs_nested_deep_in_lists_fail_the_check_not_the_stack():
    import pytest

    from app.engine.nodes.code import check_outputs

    deep_list: Any = 1
    for _ in range(3000):
        deep_list = [deep_list]
    with pytest.raises(ValueError, match="Depth limit"):
        check_outputs({"x": deep_list}, None)
    assert check_outputs({"x": [[1, 2], [3]]}, None) == {"x": [[1, 2], [3]]}
