"""The `code` node: real sandboxed runs on the real runner, and Dify's output checks."""

from __future__ import annotations

import pytest

from app.engine.nodes.code import OutputSpec, check_outputs
from app.engine.ports import NodeServices
from app.engine.state import RunStatus
from app.providers.sandbox import ProcessSandbox, SandboxLimits
from tests.app.engine.harness import chain, end, graph, node, run, start

SANDBOX = NodeServices(sandbox=ProcessSandbox(SandboxLimits(wall_seconds=5, cpu_seconds=2)))


def code_run(code: str, outputs: dict | None, **inputs: str):
    variables = [{"variable": k, "value_selector": ["start", k]} for k in inputs]
    g = graph([start(*inputs), node("c", "code", code=code, code_language="python3", variables=variables,
                                    outputs=outputs), end(out=["c", "result"])], chain("start", "c", "end"))
    return run(g, dict(inputs), services=SANDBOX)


def test_runs_main_and_passes_declared_outputs():
    result = code_run("def main(a: str, b: str) -> dict:\n    return {'result': a + b}\n",
                      {"result": {"type": "string", "children": None}}, a="x", b="y")
    assert result.outcome.status == RunStatus.succeeded
    assert result.outcome.outputs == {"out": "xy"}
    assert result.record("c").inputs == {"a": "x", "b": "y"}


def test_hostile_code_fails_only_the_node_with_a_clear_error():
    result = code_run("import os\ndef main():\n    os.system('id')\n    return {'result': 1}\n",
                      {"result": {"type": "number"}})
    assert result.outcome.status == RunStatus.failed
    assert "os.system is not allowed" in result.outcome.error


def test_type_mismatch_fails():
    result = code_run("def main():\n    return {'result': 5}\n", {"result": {"type": "string"}})
    assert result.outcome.status == RunStatus.failed and "must be a string" in result.outcome.error


def test_without_sandbox_the_node_fails_clearly():
    g = graph([start(), node("c", "code", code="def main():\n    return {}\n", outputs={}), end()],
              chain("start", "c", "end"))
    outcome = run(g, {}).outcome
    assert outcome.status == RunStatus.failed and "not configured" in outcome.error


def spec(**types: str) -> dict[str, OutputSpec]:
    return {k: OutputSpec(type=v) for k, v in types.items()}


def test_declared_types_are_checked():
    ok = check_outputs({"s": "a\x00b", "n": 1.5, "b": True, "o": {"k": 1}, "as": ["x"], "an": [1, 2.5],
                        "ao": [{"a": 1}], "ab": [True, False], "none": None},
                       spec(s="string", n="number", b="boolean", o="object", **{
                           "as": "array[string]", "an": "array[number]", "ao": "array[object]", "ab": "array[boolean]",
                           "none": "string"}))
    assert ok["s"] == "ab" and ok["o"] == {"k": 1} and ok["none"] is None
    for value, kind, message in [(1, "string", "must be a string"), ("1", "number", "must be a number"),
                                 (True, "number", "must be a number"), ("x", "boolean", "must be a boolean"),
                                 ([], "object", "not an object"), ({}, "array[string]", "not an array"),
                                 ([1], "array[object]", "not an object"), (float("nan"), "number", "finite")]:
        with pytest.raises(ValueError, match=message):
            check_outputs({"v": value}, spec(v=kind))


def test_missing_and_undeclared_outputs():
    with pytest.raises(ValueError, match="Output v is missing"):
        check_outputs({}, spec(v="string"))
    with pytest.raises(ValueError, match="not declared"):
        check_outputs({"v": "a", "w": 1}, spec(v="string"))


def test_difys_limits():
    with pytest.raises(ValueError, match="80000 characters"):
        check_outputs({"v": "a" * 80_001}, spec(v="string"))
    with pytest.raises(ValueError, match="out of range"):
        check_outputs({"v": 2 ** 63}, spec(v="number"))
    with pytest.raises(ValueError, match="30 elements"):
        check_outputs({"v": ["a"] * 31}, spec(v="array[string]"))
    with pytest.raises(ValueError, match="30 elements"):
        check_outputs({"v": [{}] * 31}, spec(v="array[object]"))
    with pytest.raises(ValueError, match="1000 elements"):
        check_outputs({"v": [1] * 1001}, spec(v="array[number]"))
    deep: dict = {"leaf": 1}
    for _ in range(6):
        deep = {"d": deep}
    with pytest.raises(ValueError, match="too deep"):
        check_outputs({"v": deep}, spec(v="object"))
    with pytest.raises(ValueError, match="same type"):
        check_outputs({"v": [1, "a"]}, None)
