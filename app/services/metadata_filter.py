"""Dify's `metadata_filtering_conditions` of a retrieval request: conditions on document metadata values
(`{"logical_operator": "and"|"or", "conditions": [{"name", "comparison_operator", "value"}]}`) evaluated
against one document's `{name: value}`. Pure; the caller loads the values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MetadataCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    comparison_operator: str
    value: str | int | float | None = None


class MetadataConditions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    logical_operator: Literal["and", "or"] = "and"
    conditions: list[MetadataCondition] = Field(default_factory=list)

    def matches(self, values: dict[str, Any]) -> bool:
        """Whether a document with these metadata values passes; no conditions pass everything."""
        if not self.conditions:
            return True
        results = (holds(c, values.get(c.name)) for c in self.conditions)
        return all(results) if self.logical_operator == "and" else any(results)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(test: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, wanted: Any) -> bool:
        left, right = _number(actual), _number(wanted)
        return left is not None and right is not None and test(left, right)
    return check


def _text(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda actual, wanted: actual is not None and wanted is not None and test(str(actual), str(wanted))


def _equal(actual: Any, wanted: Any) -> bool:
    left, right = _number(actual), _number(wanted)
    if left is not None and right is not None:
        return left == right
    return actual is not None and str(actual) == str(wanted)


# Dify's operator names (its UI writes the Unicode comparison signs; some SDKs send ASCII ones).
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "contains": _text(lambda a, w: w in a), "not contains": lambda a, w: not _text(lambda x, y: y in x)(a, w),
    "start with": _text(str.startswith), "end with": _text(str.endswith),
    "is": _equal, "=": _equal, "is not": lambda a, w: not _equal(a, w), "≠": lambda a, w: not _equal(a, w),
    "empty": lambda a, _w: a in (None, ""), "not empty": lambda a, _w: a not in (None, ""),
    ">": _compare(lambda a, w: a > w), "<": _compare(lambda a, w: a < w),
    "≥": _compare(lambda a, w: a >= w), "≤": _compare(lambda a, w: a <= w),
    "after": _compare(lambda a, w: a > w), "before": _compare(lambda a, w: a < w),
}
OPERATORS |= {"!=": OPERATORS["≠"], ">=": OPERATORS["≥"], "<=": OPERATORS["≤"]}  # ASCII spellings SDKs send


def holds(condition: MetadataCondition, actual: Any) -> bool:
    """One condition on one value; an unknown operator never holds."""
    test = OPERATORS.get(condition.comparison_operator)
    return bool(test and test(actual, condition.value))
