"""Writing a run's events in fewer round trips without delaying what a client is waiting for.

Every event used to be one XADD (or one INSERT when embedded): a 50-token LLM answer cost 50 round trips and a
10-node template chain 20. The batcher holds events that nobody can be waiting on yet and writes them together
with the next one that matters:

- events of `quick` nodes (start, template, if-else...: done in microseconds) wait for the next event, for
  `window` seconds at most;
- anything else (a slow node starting or finishing, the run's end) is written at once, with what was held
  (the executor lets a slow node's end wait for what follows when the run goes straight on: issue 18);
- text chunks are merged; the first of a stream goes out at once (time to first token), later ones at most
  every `window` seconds, and whatever is left goes out with the node's `node_finished`.

A chunk held while the model pauses is late by that pause at most; `window` bounds it while tokens flow. While
the event log is unreachable, events stay held and go out with the first flush that succeeds: a short outage
does not fail a run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from app.errors import ServiceUnavailable
from app.providers import json_codec
from app.providers.events import EventLog

ChunkPayload = Callable[[str, tuple[str, ...]], dict[str, Any]]

MAX_HELD = 10_000
log = logging.getLogger(__name__)


def plain_chunk(text: str, selector: tuple[str, ...]) -> dict[str, Any]:
    """A bare `text_chunk` payload (the executor's carries the run's envelope)."""
    return {"event": "text_chunk", "data": {"text": text, "from_variable_selector": list(selector)}}


class EventBatcher:
    def __init__(self, events: EventLog, run_id: str, window: float = 0.05,
                 clock: Callable[[], float] = time.monotonic, chunk_payload: ChunkPayload = plain_chunk) -> None:
        """`chunk_payload(text, selector)` builds the payload of a (merged) text chunk when it is written."""
        self._events = events
        self._run_id = run_id
        self._window = window
        self._clock = clock
        self._chunk_payload = chunk_payload
        self._held: list[dict[str, Any]] = []
        # The text chunk being merged after the held events: its selector and texts. Its payload is built once,
        # when it goes out or another event follows it; per token this is a list append, not two dict copies
        # and a copy of the text so far (issue 18).
        self._text_selector: tuple[str, ...] | None = None
        self._texts: list[str] = []
        self._last_flush = clock()
        self._streaming = False  # the last event written was a text chunk
        self._outage = False  # the last write failed (logged once per outage)
        # Parallel branches emit from their own threads.
        self._lock = threading.Lock()

    def add(self, payload: dict[str, Any], urgent: bool) -> None:
        """Hold `payload`, or write it now with everything held when `urgent` (or when held events have waited
        `window` already: a long chain of quick nodes, e.g. inside an iteration, still streams)."""
        with self._lock:
            self._seal()
            self._held.append(payload)
            if urgent or self._clock() - self._last_flush >= self._window:
                self._flush()

    def add_text(self, text: str, selector: tuple[str, ...]) -> None:
        """A streamed text delta of the variable `selector`: merged into the held chunk of the same selector,
        written per the rules above."""
        with self._lock:
            if selector != self._text_selector:
                self._seal()
                self._text_selector = selector
            self._texts.append(text)
            if not self._streaming or self._clock() - self._last_flush >= self._window:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def check(self) -> None:
        """Raise what writing the held events would raise for their content rather than for the log being down:
        text the log cannot store (a lone surrogate: UnicodeEncodeError). A caller about to commit learns here
        that the write following the commit cannot fail on content."""
        with self._lock:
            self._seal()
            for payload in self._held:
                json_codec.dumps(payload).encode()

    @property
    def holding(self) -> bool:
        """Whether events wait to be written: held by the rules above, or kept after a failed write."""
        return bool(self._held) or self._text_selector is not None

    def _seal(self) -> None:
        """The merged text chunk becomes a held payload (nothing merges into it any more)."""
        if self._text_selector is not None:
            texts = self._texts
            self._held.append(self._chunk_payload(texts[0] if len(texts) == 1 else "".join(texts),
                                                  self._text_selector))
            self._text_selector, self._texts = None, []

    def _flush(self) -> None:
        self._seal()
        if self._held:
            held, self._held = self._held, []
            try:
                self._events.append_many(self._run_id, held)
            except ServiceUnavailable:
                # The event log is down for a moment: the run goes on, its events wait for the next flush (the
                # newest MAX_HELD of them; followers fall back to the run row for the result).
                self._held = (held + self._held)[-MAX_HELD:]
                if not self._outage:
                    log.warning("event log unavailable; holding the run's events", extra={"run_id": self._run_id})
                self._outage = True
            else:
                self._streaming = held[-1].get("event") == "text_chunk"
                self._outage = False
        self._last_flush = self._clock()
