"""Events the runner emits while a graph executes. The service layer stamps them with run and task ids and
turns them into Dify's SSE payloads."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.state import NodeRecord


@dataclass(frozen=True)
class NodeStarted:
    record: NodeRecord


@dataclass(frozen=True)
class NodeFinished:
    record: NodeRecord


@dataclass(frozen=True)
class TextChunk:
    text: str
    from_variable_selector: tuple[str, ...]


EngineEvent = NodeStarted | NodeFinished | TextChunk
