"""The `json_process` built-in: JSONPath parse, insert, replace (pattern, key, value) and delete."""

from __future__ import annotations

import json

import pytest

from app.errors import ToolInvokeError
from tests.app.tools.builtin.calls import call

DOC = json.dumps({"store": {"books": [{"title": "A", "price": 8}, {"title": "B", "price": 12}]}, "name": "shop"})


def test_parse_one_match_many_matches_and_filters():
    assert call("json_process", "json_parse", content=DOC, json_filter="$.name").text == "shop"
    assert json.loads(call("json_process", "json_parse", content=DOC, json_filter="$.store.books[*].title").text) \
        == ["A", "B"]
    cheap = call("json_process", "json_parse", content=DOC, json_filter="$.store.books[?(@.price < 10)].title")
    assert cheap.text == "A"
    with pytest.raises(ToolInvokeError, match="not valid JSON"):
        call("json_process", "json_parse", content="{nope", json_filter="$")


def test_insert_into_a_list_at_an_index_and_create_a_missing_path():
    out = json.loads(call("json_process", "json_insert", content=DOC, query="$.store.books",
                          new_value='{"title": "C"}', index="0", value_decode="true").text)
    assert [b["title"] for b in out["store"]["books"]] == ["C", "A", "B"]
    created = json.loads(call("json_process", "json_insert", content="{}", query="$.meta.owner", new_value="me",
                              create_path="true").text)
    assert created == {"meta": {"owner": "me"}}


def test_replace_pattern_key_and_value_then_delete():
    renamed = json.loads(call("json_process", "json_replace", content=DOC, query="$.name", replace_value="label",
                              replace_model="key").text)
    assert renamed["label"] == "shop" and "name" not in renamed
    valued = json.loads(call("json_process", "json_replace", content=DOC, query="$.store.books[*].price",
                             replace_value="1", replace_model="value", value_decode="true").text)
    assert [b["price"] for b in valued["store"]["books"]] == [1, 1]
    patterned = json.loads(call("json_process", "json_replace", content=DOC, query="$.name", replace_pattern="sh",
                                replace_value="Sh", replace_model="pattern").text)
    assert patterned["name"] == "Shop"
    deleted = json.loads(call("json_process", "json_delete", content=DOC, query="$.store.books[0]").text)
    assert [b["title"] for b in deleted["store"]["books"]] == ["B"]


def test_an_invalid_jsonpath_is_named():
    with pytest.raises(ToolInvokeError, match="invalid JSONPath"):
        call("json_process", "json_parse", content=DOC, json_filter="$[?(@.x ==")
