"""Chatflow answer streaming: turns a run's raw events into the reply the user sees, in order.

Wraps the run's event sink. Node events pass through. Text chunks pass only as parts of an `answer` node's
reply: an LLM's chunks are forwarded live while they fill a segment of an answer that the LLM is certain to
reach (no branching node between them) and whose earlier segments are already known; whatever an answer did
not stream live is sent when it finishes, rendered from the pool. One answer streams at a time; replies of
answers that finish meanwhile wait and follow it, so the concatenated chunks are exactly the reply. An answer
inside an iteration or loop body adds its rendered text each time it finishes, round after round, as in Dify.

Must not import anything outside `app.engine` and `app.errors`.
"""

from __future__ import annotations

import threading
from collections import deque

from app.engine.events import EngineEvent, NodeFinished, TextChunk
from app.engine.graph import SYSTEM_ROOTS, Graph
from app.engine.nodes.answer import AnswerNode, Segment
from app.engine.ports import EventSink
from app.engine.state import NodeStatus
from app.engine.variables import VariablePool, to_text


def forced_answers(graph: Graph, source: str) -> list[str]:
    """Answer nodes that surely run once `source` succeeds: reachable through nodes with only a plain
    `source` handle (no if-else, classifier or fail-branch). Breadth-first, so nearer answers come first."""
    found: list[str] = []
    seen, queue = {source}, deque([source])
    while queue:
        node_id = queue.popleft()
        node = graph.nodes[node_id]
        if node.source_handles() is not None or getattr(node.data, "error_strategy", None) == "fail-branch":
            continue  # a branching node: what follows it may be skipped
        for edge in graph.out_edges.get(node_id, []):
            if edge.target in seen:
                continue
            seen.add(edge.target)
            if isinstance(graph.nodes[edge.target], AnswerNode):
                found.append(edge.target)
            queue.append(edge.target)
    return found


class AnswerStream:
    """An EventSink for chatflow runs. `text` is everything sent as reply chunks so far."""

    def __init__(self, graph: Graph, pool: VariablePool, sink: EventSink) -> None:
        self._pool = pool
        self._sink = sink
        self._segments: dict[str, list[Segment]] = {
            node.id: node.segments() for node in graph.nodes.values() if isinstance(node, AnswerNode)}
        self._forced = {node_id: forced_answers(graph, node_id) for node_id in graph.nodes}
        self._sent: dict[str, int] = dict.fromkeys(self._segments, 0)  # segments already sent per answer
        self._live: dict[str, str] = {}  # streaming node id -> the answer its chunks fill
        self._holder: str | None = None  # the answer that currently owns the stream
        self._waiting: list[TextChunk] = []
        self._parts: list[str] = []
        self._finished_answers: set[str] = set()
        self._lock = threading.RLock()

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def saw_finish(self, answer_id: str) -> bool:
        """Whether this stream saw the answer node finish (a restored checkpoint emits no event)."""
        with self._lock:
            return answer_id in self._finished_answers

    def __call__(self, event: EngineEvent) -> None:
        with self._lock:
            if isinstance(event, TextChunk):
                self._chunk(event)
                return
            if isinstance(event, NodeFinished):
                self._finished(event)
            self._sink(event)

    # -- chunks -------------------------------------------------------------------------------------------

    def _chunk(self, chunk: TextChunk) -> None:
        source = chunk.from_variable_selector[0] if chunk.from_variable_selector else ""
        answer = self._live.get(source) or self._open(source, chunk.from_variable_selector)
        if answer is not None:
            self._send(chunk)

    def _open(self, source: str, selector: tuple[str, ...]) -> str | None:
        """Start streaming `source` into the first answer it is certain to reach, if that answer may stream now
        and everything before the segment is known."""
        for answer in self._forced.get(source, []):
            if self._holder not in (None, answer):
                return None
            segments = self._segments[answer]
            start = self._sent[answer]
            target = next((i for i in range(start, len(segments)) if segments[i] == selector), None)
            if target is None or not all(self._known(s) for s in segments[start:target]):
                continue
            for segment in segments[start:target]:
                self._send(TextChunk(self._render(segment), self._selector(answer, segment)))
            self._sent[answer], self._live[source], self._holder = target, answer, answer
            return answer
        return None

    def _known(self, segment: Segment) -> bool:
        return isinstance(segment, str) or segment[0] in SYSTEM_ROOTS or self._pool.has_node(segment[0])

    # -- node completion ----------------------------------------------------------------------------------

    def _finished(self, event: NodeFinished) -> None:
        record = event.record
        answer = self._live.pop(record.node_id, None)
        if answer is not None:
            self._sent[answer] += 1  # the live segment is complete
        if record.node_id not in self._segments:
            if record.node_type == "answer" and record.status == NodeStatus.succeeded:
                self._body_answer(record.node_id, str((record.outputs or {}).get("answer") or ""))
            return
        self._finished_answers.add(record.node_id)
        if record.status != NodeStatus.succeeded:
            self._release(record.node_id)
            return
        segments = self._segments[record.node_id]
        rest = [TextChunk(self._render(s), self._selector(record.node_id, s))
                for s in segments[self._sent[record.node_id]:]]
        self._sent[record.node_id] = len(segments)
        if self._holder in (None, record.node_id):
            for chunk in rest:
                self._send(chunk)
        else:
            self._waiting.extend(rest)
        self._release(record.node_id)

    def _body_answer(self, answer: str, text: str) -> None:
        """An answer inside a loop or iteration body: its text of this round follows whatever streams now."""
        chunk = TextChunk(text, (answer, "answer"))
        if self._holder is None:
            self._send(chunk)
        else:
            self._waiting.append(chunk)

    def _release(self, answer: str) -> None:
        if self._holder != answer:
            return
        self._holder = None
        waiting, self._waiting = self._waiting, []
        for chunk in waiting:
            self._send(chunk)

    # -- output -------------------------------------------------------------------------------------------

    def _render(self, segment: Segment) -> str:
        return segment if isinstance(segment, str) else to_text(self._pool.get(segment))

    @staticmethod
    def _selector(answer: str, segment: Segment) -> tuple[str, ...]:
        return (answer, "answer") if isinstance(segment, str) else segment

    def _send(self, chunk: TextChunk) -> None:
        if chunk.text:
            self._parts.append(chunk.text)
            self._sink(chunk)
