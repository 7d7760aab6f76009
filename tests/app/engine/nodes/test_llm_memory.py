"""The `memory` part of the `llm` node (app/engine/nodes/llm.py): chatflow history and the query, in chat and
completion mode. Kept apart from the LLM node's other tests, which another change owns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.engine.dsl import NodeSpec
from app.engine.nodes.base import NodeContext
from app.engine.nodes.llm import LLMNode
from app.engine.ports import ChatTurn, LLMRequest, LLMResult, LLMUsage, NodeServices
from app.engine.variables import VariablePool

HISTORY = (ChatTurn("q1", "a1"), ChatTurn("q2", "a2"), ChatTurn("q3", "a3"))


class RecordingLLM:
    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        self.requests.append(request)
        return LLMResult(text="ok", usage=LLMUsage(1, 1))


def sent(data: dict[str, Any], history: tuple[ChatTurn, ...] = HISTORY, files: Any = None) -> list[tuple[str, str]]:
    node = LLMNode(NodeSpec(id="llm", data={"type": "llm", **data}))
    pool = VariablePool()
    pool.set("sys", "query", "now?")
    pool.set("sys", "files", files if files is not None else [])
    llm = RecordingLLM()
    node.run(NodeContext(pool=pool, llm=llm, emit_chunk=lambda text, sel: None, should_stop=lambda: False,
                         services=NodeServices(history=history)))
    return [(m.role, m.content) for m in llm.requests[0].messages]


CHAT = {"model": {"provider": "openai", "name": "m", "mode": "chat"},
        "prompt_template": [{"role": "system", "text": "Be brief."}]}


def test_chat_memory_puts_the_window_between_prompt_and_query():
    memory = {"window": {"enabled": True, "size": 2}, "query_prompt_template": "{{#sys.query#}}"}
    assert sent({**CHAT, "memory": memory}) == [("system", "Be brief."), ("user", "q2"), ("assistant", "a2"),
                                                ("user", "q3"), ("assistant", "a3"), ("user", "now?")]


def test_disabled_window_sends_the_whole_history_and_empty_template_means_the_query():
    messages = sent({**CHAT, "memory": {"window": {"enabled": False, "size": 1}}})
    assert [content for _, content in messages] == ["Be brief.", "q1", "a1", "q2", "a2", "q3", "a3", "now?"]


def test_query_template_drops_missing_references_and_empty_file_lists():
    memory = {"query_prompt_template": "{{#sys.query#}}\n\n{{#sys.files#}}{{#userinput.files#}}"}
    assert sent({**CHAT, "memory": memory}, history=())[-1] == ("user", "now?")
    assert sent({**CHAT, "memory": memory}, history=(), files=[{"id": "f"}])[-1] == ("user", 'now?\n\n[{"id": "f"}]')


def test_without_memory_no_history_is_sent():
    assert sent(CHAT) == [("system", "Be brief.")]


def test_completion_mode_fills_histories_and_query_placeholders():
    data = {"model": {"provider": "openai", "name": "m", "mode": "completion"},
            "prompt_template": {"text": "Chat so far:\n#histories#\nQuestion: #sys.query#"},
            "memory": {"window": {"enabled": True, "size": 1}, "role_prefix": {"user": "U", "assistant": "A"}}}
    assert sent(data) == [("user", "Chat so far:\nU: q3\nA: a3\nQuestion: now?")]
