"""ReAct parsing: the action styles models write, final answers, and text with neither."""

from __future__ import annotations

from app.engine import react


def test_action_and_action_input_lines():
    step = react.parse('Thought: I should look it up.\nAction: web_search\nAction Input: {"query": "tides"}')
    assert step.thought == "I should look it up."
    assert step.action == "web_search" and step.action_input == {"query": "tides"}


def test_plain_action_input_stays_text():
    step = react.parse("Thought: hm\nAction: `calculator`\nAction Input: 2 + 2")
    assert step.action == "calculator" and step.action_input == "2 + 2"


def test_json_blob_actions_fenced_or_bare():
    fenced = react.parse('Thought: x\nAction:\n```json\n{"action": "search", "action_input": {"q": "a"}}\n```')
    assert fenced.action == "search" and fenced.action_input == {"q": "a"}
    bare = react.parse('{"action": "search", "action_input": "b"}')
    assert bare.action == "search" and bare.action_input == "b"
    final = react.parse('```json\n{"action": "Final Answer", "action_input": "done"}\n```')
    assert final.action is None and final.final == "done"


def test_final_answer_wins_when_it_comes_first():
    step = react.parse("Thought: I know it\nFinal Answer: 42\nAction: search")
    assert step.action is None and step.final == "42\nAction: search" and step.thought == "I know it"
    later = react.parse("Thought: check\nAction: search\nAction Input: {}\nFinal Answer: 42")
    assert later.action == "search"


def test_text_without_markers_is_the_answer():
    step = react.parse("  Just an answer.  ")
    assert step.action is None and step.final == "Just an answer."


def test_system_prompt_lists_tools_and_format():
    functions = ({"type": "function", "function": {"name": "search", "description": "Web search",
                                                   "parameters": {"type": "object", "properties": {}}}},)
    prompt = react.system_prompt("Be brief.", functions)
    assert prompt.startswith("Be brief.\n\n") and "- search: Web search" in prompt
    assert "Action: the tool to use, one of [search]" in prompt and "Final Answer:" in prompt
