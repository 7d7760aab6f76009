"""JSON logs on stderr: one object per line with the message, level, logger, the bound context (`request_id`,
`run_id`, `task_id`, `app_id`, `node_id`) and any `extra` fields.

Context is held in a contextvar, so it follows a request or a task on its own thread and never leaks between
them; `bind()` adds fields for a block. Unless payload logging is on (LOG_PAYLOADS, for debugging only),
fields that may carry secrets or user content (keys, tokens, prompts, inputs, outputs) are replaced by
`[redacted]`, and key-shaped strings (`app-...`, `sk-...`, `Bearer ...`) are masked in every message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
CONTEXT_FIELDS = ("request_id", "run_id", "task_id", "app_id", "node_id")
SENSITIVE_FIELDS = frozenset({"authorization", "api_key", "token", "password", "secret", "prompt", "prompts",
                              "messages", "inputs", "outputs", "query", "text", "body", "headers"})
KEY_PATTERN = re.compile(r"(?i)\b(bearer\s+)\S+|\b(app-|ds-|sk-|adm-)[A-Za-z0-9_\-]{8,}")
REDACTED = "[redacted]"

_context: ContextVar[dict[str, Any] | None] = ContextVar("trellis_log_context", default=None)


def current_context() -> dict[str, Any]:
    """The fields bound on this thread/task right now (a copy)."""
    return dict(_context.get() or {})


def set_context(**fields: Any) -> None:
    """Add fields to the current context until it is reset (request hooks use this; blocks use `bind`)."""
    merged = current_context()
    merged.update({k: v for k, v in fields.items() if v is not None})
    _context.set(merged)


def clear_context() -> None:
    _context.set(None)


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Log with these fields inside the block; the previous context comes back afterwards."""
    merged = current_context()
    merged.update({k: v for k, v in fields.items() if v is not None})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def mask_keys(text: str) -> str:
    return KEY_PATTERN.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, payloads: bool = False) -> None:
        super().__init__()
        self.payloads = payloads

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                                 "level": record.levelname.lower(), "logger": record.name,
                                 "message": message if self.payloads else mask_keys(message)}
        entry.update(current_context())
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            entry[key] = REDACTED if not self.payloads and key.lower() in SENSITIVE_FIELDS else value
        if record.exc_info:
            exc = self.formatException(record.exc_info)
            entry["exc"] = exc if self.payloads else mask_keys(exc)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", payloads: bool = False) -> None:
    """Route the root logger to stderr as JSON. Idempotent. `payloads` turns redaction off (debug only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(payloads=payloads))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO on every schema check; only its warnings are news here.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))
