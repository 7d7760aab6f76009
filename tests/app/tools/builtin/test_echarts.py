"""The `echarts` and `chart` built-ins answer an ECharts option in a fenced ```echarts block."""

from __future__ import annotations

import json

import pytest

from app.errors import ToolInvokeError
from tests.app.tools.builtin.calls import call


def _option(text: str) -> dict:
    assert text.strip().startswith("```echarts") and text.strip().endswith("```")
    return json.loads(text.strip()[len("```echarts"):-3])


def test_bar_line_and_pie_charts():
    bar = call("echarts", "bar_chart", data="1;2;3.5", x_axis="a;b;c", title="T")
    option = _option(bar.text)
    assert option["series"] == [{"type": "bar", "data": [1, 2, 3.5]}] and option["xAxis"]["data"] == ["a", "b", "c"]
    assert bar.json[0] == option
    assert _option(call("chart", "line_chart", data="[4, 5]", x_axis="x,y").text)["series"][0]["type"] == "line"
    pie = _option(call("echarts", "pie_chart", data="1;3", categories="cats;dogs").text)
    assert pie["series"][0]["data"] == [{"name": "cats", "value": 1}, {"name": "dogs", "value": 3}]


def test_mismatched_or_non_numeric_data_fails():
    with pytest.raises(ToolInvokeError, match="labels"):
        call("echarts", "bar_chart", data="1;2", x_axis="a")
    with pytest.raises(ToolInvokeError, match="numbers"):
        call("echarts", "bar_chart", data="one;two")
