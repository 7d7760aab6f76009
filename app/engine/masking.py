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

    def mask(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: self.mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask(v) for v in value]
        return value

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
            return NodeFinished(self._record(event.record))
        if isinstance(event, AgentLog):
            return dataclasses.replace(event, data=self.mask(event.data), error=self.mask(event.error))
        return event
