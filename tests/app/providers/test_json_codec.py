"""The JSON codec of events and SSE frames: UTF-8 kept as is, the standard library's values read back, and
what orjson refuses still encoded or parsed as before."""

from __future__ import annotations

import json

import pytest

from app.providers import json_codec


def test_non_ascii_text_is_written_as_utf8_not_escaped():
    payload = {"event": "text_chunk", "data": {"text": "héllo 你好 😀", "from_variable_selector": ["llm", "text"]}}
    text = json_codec.dumps(payload)
    assert "你好 😀" in text and "\\u" not in text
    assert json.loads(text) == payload == json_codec.loads(text) == json_codec.loads(text.encode())


def test_values_orjson_refuses_fall_back_to_the_standard_library():
    assert json.loads(json_codec.dumps({"big": 10 ** 30})) == {"big": 10 ** 30}
    assert json_codec.dumps({1: "x"}) == '{"1":"x"}'
    assert json_codec.dumps({"f": float("nan")}) == '{"f":null}'
    assert json_codec.loads('{"a": NaN, "n": 123456789012345678901234567890}')["n"] == 123456789012345678901234567890
    assert json_codec.loads('"\\ud800"') == "\ud800"


def test_not_json_raises_value_error():
    with pytest.raises(ValueError):
        json_codec.loads("data: nope")
