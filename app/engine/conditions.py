"""Dify's comparison operators, shared by if-else, loop break conditions and list filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.errors import WorkflowError


def _num(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError as exc:
        raise WorkflowError(f"cannot compare {value!r} as a number") from exc


def _is_empty(actual: Any) -> bool:
    return actual is None or actual == "" or (isinstance(actual, list | dict | tuple) and len(actual) == 0)


def _contains(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, str):
        return str(expected) in actual
    if isinstance(actual, list | tuple):
        return expected in actual or str(expected) in [str(a) for a in actual]
    return False


def _in(actual: Any, expected: Any) -> bool:
    options = expected if isinstance(expected, list) else [e.strip() for e in str(expected).split(",")]
    return actual in options or str(actual) in [str(o) for o in options]


def _is(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == str(expected).strip().lower()
    return actual is not None and str(actual) == str(expected)


def _all_of(actual: Any, expected: Any) -> bool:
    wanted = expected if isinstance(expected, list) else [expected]
    return isinstance(actual, list | tuple) and all(w in actual for w in wanted)


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "contains": _contains,
    "not contains": lambda a, e: not _contains(a, e),
    "start with": lambda a, e: isinstance(a, str) and a.startswith(str(e)),
    "end with": lambda a, e: isinstance(a, str) and a.endswith(str(e)),
    "is": _is,
    "is not": lambda a, e: not _is(a, e),
    "empty": lambda a, e: _is_empty(a),
    "not empty": lambda a, e: not _is_empty(a),
    "in": _in,
    "not in": lambda a, e: not _in(a, e),
    "all of": _all_of,
    "=": lambda a, e: a is not None and _num(a) == _num(e),
    "≠": lambda a, e: a is None or _num(a) != _num(e),
    ">": lambda a, e: a is not None and _num(a) > _num(e),
    "<": lambda a, e: a is not None and _num(a) < _num(e),
    "≥": lambda a, e: a is not None and _num(a) >= _num(e),
    "≤": lambda a, e: a is not None and _num(a) <= _num(e),
    "null": lambda a, e: a is None,
    "not null": lambda a, e: a is not None,
    "exists": lambda a, e: a is not None,
    "not exists": lambda a, e: a is None,
}
# ASCII spellings seen in older exports and hand-written DSL.
OPERATORS.update({"!=": OPERATORS["≠"], ">=": OPERATORS["≥"], "<=": OPERATORS["≤"], "==": OPERATORS["="]})


def compare(operator: str, actual: Any, expected: Any) -> bool:
    """Apply a Dify comparison operator. Raises WorkflowError for an unknown operator."""
    try:
        fn = OPERATORS[operator]
    except KeyError as exc:
        raise WorkflowError(f"unknown comparison operator {operator!r}") from exc
    return fn(actual, expected)
