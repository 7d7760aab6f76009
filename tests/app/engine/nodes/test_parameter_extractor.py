"""`parameter-extractor`: JSON mode vs prompt mode, typed values, `__is_success`/`__reason`."""

from __future__ import annotations

from tests.app.engine.harness import MODEL, ScriptedLLM, edge, end, graph, node, run, start

PARAMS = [{"name": "city", "type": "string", "description": "the city", "required": True},
          {"name": "nights", "type": "number", "description": "how many nights"},
          {"name": "pool", "type": "bool"},
          {"name": "room", "type": "select", "options": ["single", "double"]},
          {"name": "extras", "type": "array[string]"}]


def extractor(mode: str = "function_call"):
    pe = node("pe", "parameter-extractor", model=MODEL, query=["start", "q"], parameters=PARAMS,
              reasoning_mode=mode, instruction="Dates are in {{#start.q#}}")
    return graph([start("q"), pe, end(city=["pe", "city"], nights=["pe", "nights"], ok=["pe", "__is_success"],
                                      reason=["pe", "__reason"], extras=["pe", "extras"], room=["pe", "room"])],
                 [edge("start", "pe"), edge("pe", "end")])


def test_function_call_mode_uses_json_mode_and_types_values():
    llm = ScriptedLLM('{"city": "Lisbon", "nights": "3", "pool": "true", "room": "double", "extras": ["late"]}')
    result = run(extractor(), {"q": "3 nights in Lisbon"}, llm=llm)
    assert result.outcome.outputs == {"city": "Lisbon", "nights": 3, "ok": 1, "reason": None, "extras": ["late"],
                                      "room": "double"}
    assert result.record("pe").outputs["pool"] is True
    assert llm.requests[0].response_format == {"type": "json_object"}
    assert '"nights": {"type": "number"' in llm.requests[0].messages[0].content


def test_prompt_mode_reads_json_from_prose():
    llm = ScriptedLLM('Here you go: {"city": "Oslo"} hope it helps')
    result = run(extractor("prompt"), {"q": "Oslo"}, llm=llm)
    assert llm.requests[0].response_format is None
    assert result.outcome.outputs["city"] == "Oslo"
    assert result.outcome.outputs["nights"] == 0  # not mentioned: the type's default
    assert result.outcome.outputs["ok"] == 1


def test_missing_required_or_bad_type_is_not_a_failure():
    missing = run(extractor(), {"q": "x"}, llm=ScriptedLLM('{"nights": 2}'))
    assert missing.outcome.status == "succeeded"
    assert missing.outcome.outputs["ok"] == 0 and "city" in missing.outcome.outputs["reason"]
    assert missing.outcome.outputs["city"] == ""
    bad = run(extractor(), {"q": "x"}, llm=ScriptedLLM('{"city": "A", "room": "suite"}'))
    assert bad.outcome.outputs["ok"] == 0 and "room" in bad.outcome.outputs["reason"]
    garbage = run(extractor(), {"q": "x"}, llm=ScriptedLLM("no json at all"))
    assert garbage.outcome.outputs["ok"] == 0 and garbage.record("pe").outputs["__usage"]["total_tokens"] == 5
