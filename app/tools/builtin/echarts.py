"""The `echarts` provider (`langgenius/echarts`): bar, line and pie charts as an ECharts option in a fenced
```echarts block, which Dify's chat UI renders. The older built-in `chart` provider (which drew images) is
served by the same tools, so its apps get the chart as ECharts text instead of a picture."""

from __future__ import annotations

import json
from typing import Any

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def _items(value: Any) -> list[str]:
    """`1;2;3` as Dify's chart tools take it; a JSON list or comma-separated text is accepted too."""
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    text = str(value or "").strip()
    if text.startswith("["):
        try:
            return [str(v).strip() for v in json.loads(text)]
        except ValueError:
            pass
    separator = ";" if ";" in text else ","
    return [part.strip() for part in text.split(separator) if part.strip()]


def _numbers(value: Any) -> list[float | int]:
    try:
        numbers = [float(v) for v in _items(value)]
    except ValueError as exc:
        raise ToolInvokeError("echarts: data must be numbers separated by ';'") from exc
    return [int(n) if n.is_integer() else n for n in numbers]


def _fenced(option: dict[str, Any]) -> ToolResult:
    return ToolResult(text="\n```echarts\n" + json.dumps(option, ensure_ascii=False, indent=2) + "\n```\n",
                      json=(option,))


def _axis_chart(kind: str) -> Any:
    def run(call: ToolCall) -> ToolResult:
        data = _numbers(call.arguments.get("data"))
        labels = _items(call.arguments.get("x_axis")) or [str(i + 1) for i in range(len(data))]
        if len(labels) != len(data):
            raise ToolInvokeError(f"echarts: {len(data)} values but {len(labels)} x-axis labels")
        return _fenced({"title": {"text": call.text("title")}, "tooltip": {"trigger": "axis"},
                        "xAxis": {"type": "category", "data": labels}, "yAxis": {"type": "value"},
                        "series": [{"type": kind, "data": data}]})

    return run


def pie_chart(call: ToolCall) -> ToolResult:
    data = _numbers(call.arguments.get("data"))
    labels = _items(call.arguments.get("categories")) or [str(i + 1) for i in range(len(data))]
    if len(labels) != len(data):
        raise ToolInvokeError(f"echarts: {len(data)} values but {len(labels)} categories")
    return _fenced({"title": {"text": call.text("title"), "left": "center"}, "tooltip": {"trigger": "item"},
                    "legend": {"orient": "vertical", "left": "left"},
                    "series": [{"type": "pie",
                                "data": [{"name": n, "value": v} for n, v in zip(labels, data, strict=True)]}]})


DATA = Param("data", "string", True, "values separated by ';'")
TITLE = Param("title", "string", description="chart title")
TOOLS = (
    BuiltinTool("bar_chart", "A bar chart.", (DATA, Param("x_axis", "string", description="labels separated by ';'"),
                                              TITLE), _axis_chart("bar")),
    BuiltinTool("line_chart", "A line chart.", (DATA, Param("x_axis", "string", description="labels separated by ';'"),
                                                TITLE), _axis_chart("line")),
    BuiltinTool("pie_chart", "A pie chart.", (DATA, Param("categories", "string", description="names separated by ';'"),
                                              TITLE), pie_chart),
)
ECHARTS = BuiltinSpec(provider_id="echarts", label="ECharts", aliases=("langgenius/echarts/echarts",),
                      description="Charts as ECharts options.", tools=TOOLS)
CHART = BuiltinSpec(provider_id="chart", label="Chart", description="Charts (rendered as ECharts options).",
                    tools=TOOLS)
