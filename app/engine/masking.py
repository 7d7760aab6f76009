"""Masking of secret environment variables in everything a run publishes (node events, text chunks).

The pool keeps the real values so nodes can use them; only the copies that leave the engine are masked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from app.engine.events import AgentLog, EngineEvent, NodeFinished, NodeStarted, TextChunk
from app.engine.state import NodeRecord

MASK = "******"
# Very short secrets would mask innocent text everywhere; shorter values are still never logged by name.
MIN_SECRET_CHARS = 4


class Masker:
    def __init__(self, secrets: Iterable[Any]) -> None:
        values = {str(s) for s in secrets if s is not None and len(str(s)) >= MIN_SECRET_CHARS}
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def mask(self, value: Any) -> Any:
        """A copy of `value` with every secret in its strings masked. Iterative: node outputs are user data
        and may nest deeper than Python's recursion limit (issue 14)."""
        if isinstance(value, str):
            return self._text(value)
        if not isinstance(value, dict | list | tuple):
            return value
        root: Any = {} if isinstance(value, dict) else []
        stack: list[tuple[Any, Any]] = [(value, root)]
        while stack:
            source, target = stack.pop()
            for key, item in (source.items() if isinstance(source, dict) else enumerate(source)):
                if isinstance(item, str):
                    copy: Any = self._text(item)
                elif isinstance(item, dict | list | tuple):
                    copy = {} if isinstance(item, dict) else []
                    stack.append((item, copy))
                else:
                    copy = item
                if isinstance(target, dict):
                    target[key] = copy
                else:
                    target.append(copy)
        return root

    def _record(self, record: NodeRecord) -> NodeRecord:
        return dataclasses.replace(record, inputs=self.mask(record.inputs), outputs=self.mask(record.outputs),
                                   process_data=self.mask(record.process_data), error=self.mask(record.error))

    def event(self, event: EngineEvent) -> EngineEvent:
        """A copy of `event` with every secret value replaced by a mask (the event itself if no secrets)."""
        if not self._secrets:
            return event
        if isinstance(event, TextChunk):
            return TextChunk(self.mask(event.text), event.from_variable_selector)
        if isinstance(event, NodeStarted):
            return NodeStarted(self._record(event.record))
        if isinstance(event, NodeFinished):
            return NodeFinished(self._record(event.record), event.next_at_once)
        if isinstance(event, AgentLog):
            return dataclasses.replace(event, data=self.mask(event.data), error=self.mask(event.error))
        return event
