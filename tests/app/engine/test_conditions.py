"""Dify's comparison operators at their boundaries: each numeric operator just below, at and just above its
operand, each string and collection operator on both sides, and the null family."""

from __future__ import annotations

import pytest

from app.engine.conditions import OPERATORS, compare
from app.errors import WorkflowError

# operator -> expected result for actual = 4, 5, 6 against expected 5
NUMERIC = {
    "=": (False, True, False), "==": (False, True, False),
    "≠": (True, False, True), "!=": (True, False, True),
    ">": (False, False, True),
    "<": (True, False, False),
    "≥": (False, True, True), ">=": (False, True, True),
    "≤": (True, True, False), "<=": (True, True, False),
}


@pytest.mark.parametrize("operator", sorted(NUMERIC))
def test_numeric_operators_below_at_and_above_the_boundary(operator):
    below, at, above = NUMERIC[operator]
    assert compare(operator, 4, 5) is below
    assert compare(operator, 5, 5) is at
    assert compare(operator, 6, 5) is above
    # Dify compares numbers written as text the same way, and fractions just off the boundary.
    assert compare(operator, "5", "5.0") is at
    assert compare(operator, 4.999, 5) is below
    assert compare(operator, 5.001, 5) is above


@pytest.mark.parametrize("operator", ["=", ">", "<", "≥", "≤"])
def test_numeric_comparison_with_nothing_is_false(operator):
    assert compare(operator, None, 5) is False


def test_not_equal_to_nothing_is_true():
    assert compare("≠", None, 5) is True


def test_a_value_that_is_not_a_number_is_a_clear_error():
    with pytest.raises(WorkflowError, match="as a number"):
        compare(">", "abc", 5)


def test_unknown_operator_is_a_clear_error():
    with pytest.raises(WorkflowError, match="unknown comparison operator"):
        compare("approximately", 1, 1)


@pytest.mark.parametrize(("operator", "actual", "expected", "result"), [
    ("contains", "hello world", "lo w", True), ("contains", "hello", "xyz", False), ("contains", None, "a", False),
    ("contains", ["a", "b"], "b", True), ("contains", [1, 2], "2", True), ("contains", ["a"], "c", False),
    ("not contains", "hello", "ell", False), ("not contains", "hello", "xyz", True), ("not contains", None, "a", True),
    ("start with", "hello", "he", True), ("start with", "hello", "lo", False), ("start with", None, "h", False),
    ("end with", "hello", "lo", True), ("end with", "hello", "he", False), ("end with", 5, "5", False),
    ("is", "abc", "abc", True), ("is", "abc", "abcd", False), ("is", None, "None", False),
    ("is", True, "true", True), ("is", False, "true", False), ("is", True, " TRUE ", True),
    ("is not", "abc", "abc", False), ("is not", "abc", "x", True),
    ("empty", "", None, True), ("empty", [], None, True), ("empty", {}, None, True), ("empty", None, None, True),
    ("empty", "x", None, False), ("empty", [0], None, False), ("empty", 0, None, False),
    ("not empty", "x", None, True), ("not empty", "", None, False),
    ("in", "b", ["a", "b"], True), ("in", "c", ["a", "b"], False), ("in", "b", "a, b", True), ("in", "b", "a,b", True),
    ("in", "c", "a,bc", False), ("in", 2, ["2"], True),
    ("not in", "c", ["a", "b"], True), ("not in", "a", ["a", "b"], False),
    ("all of", ["a", "b", "c"], ["a", "c"], True), ("all of", ["a"], ["a", "c"], False),
    ("all of", "abc", ["a"], False), ("all of", ["a"], "a", True), ("all of", ["a", "b"], "ab", False),
    ("null", None, None, True), ("null", 0, None, False), ("not null", 0, None, True), ("not null", None, None, False),
    ("exists", "", None, True), ("exists", None, None, False),
    ("not exists", None, None, True), ("not exists", "", None, False),
])
def test_string_collection_and_null_operators_on_both_sides(operator, actual, expected, result):
    assert compare(operator, actual, expected) is result


def test_every_operator_is_covered_here():
    covered = set(NUMERIC) | {"contains", "not contains", "start with", "end with", "is", "is not", "empty",
                              "not empty", "in", "not in", "all of", "null", "not null", "exists", "not exists"}
    assert set(OPERATORS) == covered
