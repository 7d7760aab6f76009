"""Dify's metadata filtering conditions, evaluated on one document's metadata values."""

from __future__ import annotations

import pytest

from app.services.metadata_filter import MetadataConditions

VALUES = {"author": "Ada Lovelace", "year": 1843, "published": 1_000_000, "notes": ""}


@pytest.mark.parametrize(("operator", "name", "value", "expected"), [
    ("contains", "author", "Love", True), ("not contains", "author", "Love", False),
    ("start with", "author", "Ada", True), ("end with", "author", "Ada", False),
    ("is", "author", "Ada Lovelace", True), ("is not", "author", "Ada Lovelace", False),
    ("=", "year", 1843, True), ("≠", "year", "1843", False), (">", "year", 1800, True), ("<", "year", 1800, False),
    ("≥", "year", 1843, True), ("≤", "year", 1842, False), ("after", "published", 999, True),
    ("before", "published", 999, False), ("empty", "notes", None, True), ("not empty", "author", None, True),
    ("empty", "missing", None, True), ("contains", "missing", "x", False), (">", "author", 3, False),
    (">=", "year", 1843, True), ("<=", "year", 1843, True), ("!=", "year", 1843, False),
    ("resembles", "author", "Ada", False),
])
def test_each_operator(operator, name, value, expected):
    conditions = MetadataConditions.model_validate(
        {"conditions": [{"name": name, "comparison_operator": operator, "value": value}]})
    assert conditions.matches(VALUES) is expected


def test_and_or_and_no_conditions():
    both = [{"name": "author", "comparison_operator": "contains", "value": "Ada"},
            {"name": "year", "comparison_operator": ">", "value": 1900}]
    assert MetadataConditions.model_validate({"logical_operator": "and", "conditions": both}).matches(VALUES) is False
    assert MetadataConditions.model_validate({"logical_operator": "or", "conditions": both}).matches(VALUES) is True
    assert MetadataConditions().matches({}) is True
