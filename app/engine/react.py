"""ReAct for models without a tools API: the system prompt that teaches the Thought / Action / Action Input /
Observation format, and the parser of what the model wrote back.

Two action styles are understood, since models trained on either write them: `Action: <tool>` followed by
`Action Input: <json>`, and a JSON blob `{"action": <tool>, "action_input": <json>}` after `Action:`. A final
answer is `Final Answer: ...` (or the blob's action `Final Answer`); text with neither is a final answer too.
Must not import anything outside `app.engine`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

STOP = "Observation:"
FINAL_ACTION = "final answer"

_FINAL = re.compile(r"final\s+answer\s*:\s*(.*)", re.S | re.I)
_ACTION = re.compile(r"^\s*action\s*:\s*(.*)", re.S | re.I | re.M)
_INPUT = re.compile(r"^\s*action\s+input\s*:\s*(.*)", re.S | re.I | re.M)
_THOUGHT = re.compile(r"^\s*thought\s*:\s*", re.I)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


@dataclass(frozen=True)
class ReactStep:
    thought: str
    action: str | None = None  # None: `final` is the answer
    action_input: str | dict[str, Any] | None = None
    final: str = ""


def system_prompt(instruction: str, functions: tuple[dict[str, Any], ...]) -> str:
    """The instruction followed by the tool list and the answer format."""
    tools = "\n".join(
        f"- {f['function']['name']}: {f['function'].get('description', '')} "
        f"Arguments (JSON schema): {json.dumps(f['function'].get('parameters') or {}, ensure_ascii=False)}"
        for f in functions)
    names = ", ".join(f["function"]["name"] for f in functions)
    return (f"{instruction.strip()}\n\n" if instruction.strip() else "") + (
        "Answer the user's question. You can use these tools:\n"
        f"{tools}\n\n"
        "Use this format, one step at a time:\n"
        "Thought: what you think about and what to do next\n"
        f"Action: the tool to use, one of [{names}]\n"
        "Action Input: the tool's arguments as a JSON object\n"
        f"Then stop: the tool's result comes back as '{STOP} ...'. Repeat Thought/Action/Action Input as needed.\n"
        "When you know the answer, write:\n"
        "Thought: I know the final answer\n"
        "Final Answer: the answer for the user")


def _blob(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (code fences allowed), or None."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        found, _ = json.JSONDecoder().raw_decode(_FENCE.sub("", text[start:].strip()))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _input(raw: str) -> str | dict[str, Any]:
    raw = _FENCE.sub("", raw.strip()).strip()
    blob = _blob(raw) if raw.startswith("{") else None
    return blob if blob is not None else raw


def parse(text: str) -> ReactStep:
    """One model turn as a step: an action to run, or the final answer."""
    action_match = _ACTION.search(text)
    final_match = _FINAL.search(text)
    if final_match and (not action_match or final_match.start() < action_match.start()):
        return ReactStep(thought=_thought(text[:final_match.start()]), final=final_match.group(1).strip())
    if action_match:
        thought, rest = _thought(text[:action_match.start()]), action_match.group(1)
    else:  # a bare JSON blob is an action too
        blob = _blob(text)
        if blob is None or "action" not in blob:
            return ReactStep(thought="", final=text.strip())
        thought, rest = _thought(_FENCE.sub("", text[:text.find("{")])), text[text.find("{"):]
    blob = _blob(rest)
    if blob is not None and "action" in blob:
        name, arguments = str(blob["action"]).strip(), blob.get("action_input")
    else:
        input_match = _INPUT.search(rest)
        lines = (rest[:input_match.start()] if input_match else rest).strip().splitlines() or [""]
        name = lines[0].strip(" `\"'")
        arguments = _input(input_match.group(1)) if input_match else None
    if name.lower() == FINAL_ACTION:
        final = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return ReactStep(thought=thought, final=final or "")
    return ReactStep(thought=thought, action=name, action_input=arguments)


def _thought(text: str) -> str:
    return _THOUGHT.sub("", text.strip()).strip()
