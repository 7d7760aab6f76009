"""The `json_process` provider: parse, insert into, replace in and delete from JSON text addressed by JSONPath
(jsonpath-ng's extended grammar, with filters), as Dify's built-in of that name. Results are JSON text."""

from __future__ import annotations

import json
from typing import Any

from jsonpath_ng import DatumInContext
from jsonpath_ng.ext import parse

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def _load(call: ToolCall) -> Any:
    content = call.arguments.get("content")
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except ValueError as exc:
        raise ToolInvokeError(f"json_process: content is not valid JSON: {exc}") from exc


def _path(query: str) -> Any:
    try:
        return parse(query or "$")
    except Exception as exc:  # jsonpath-ng raises JsonPathParserError, and bare Exceptions for some inputs
        raise ToolInvokeError(f"json_process: invalid JSONPath {query!r}: {exc}") from exc


def _value(call: ToolCall, name: str) -> Any:
    """A value argument, decoded from JSON text when `value_decode` is on."""
    raw = call.arguments.get(name)
    if call.arguments.get("value_decode") and isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ToolInvokeError(f"json_process: {name} is not valid JSON") from exc
    return raw


def _dump(call: ToolCall, value: Any) -> ToolResult:
    if isinstance(value, str):
        return ToolResult(text=value)
    return ToolResult(text=json.dumps(value, ensure_ascii=bool(call.arguments.get("ensure_ascii"))))


def json_parse(call: ToolCall) -> ToolResult:
    matches = [m.value for m in _path(call.text("json_filter")).find(_load(call))]
    return _dump(call, matches[0] if len(matches) == 1 else matches)


def json_insert(call: ToolCall) -> ToolResult:
    data, path, value = _load(call), _path(call.text("query")), _value(call, "new_value")
    matches = path.find(data)
    if not matches:
        if not call.arguments.get("create_path"):
            raise ToolInvokeError(f"json_process: nothing matches {call.text('query')!r}")
        data = path.update_or_create(data, value)
        return _dump(call, data)
    index = call.arguments.get("index")
    for match in matches:
        target = match.value
        if isinstance(target, list):
            target.append(value) if index is None else target.insert(int(index), value)
        elif isinstance(target, dict) and isinstance(value, dict):
            target.update(value)
        else:
            raise ToolInvokeError("json_process: insert needs the query to point at a list, or at an object "
                                  "with an object value")
    return _dump(call, data)


def _rename_key(match: DatumInContext, new_key: str) -> None:
    parent, old = match.context.value if match.context else None, getattr(match.path, "fields", None)
    if not isinstance(parent, dict) or not old:
        raise ToolInvokeError("json_process: key replacement needs the query to name an object field")
    parent[new_key] = parent.pop(old[0])


def json_replace(call: ToolCall) -> ToolResult:
    data, path = _load(call), _path(call.text("query"))
    mode = call.text("replace_model") or "pattern"
    matches = path.find(data)
    if mode == "key":
        for match in matches:
            _rename_key(match, call.text("replace_value"))
    elif mode == "value":
        data = path.update(data, _value(call, "replace_value"))
    else:
        pattern, replacement = call.text("replace_pattern"), call.text("replace_value")
        data = path.update(data, lambda old, *_: old.replace(pattern, replacement) if isinstance(old, str) else old)
    return _dump(call, data)


def json_delete(call: ToolCall) -> ToolResult:
    data, path = _load(call), _path(call.text("query"))
    return _dump(call, path.filter(lambda _: True, data))


CONTENT = Param("content", "string", True, "JSON text")
ASCII = Param("ensure_ascii", "boolean", default=False, form="form")
DECODE = Param("value_decode", "boolean", default=False, description="decode the value as JSON", form="form")

JSON_PROCESS = BuiltinSpec(
    provider_id="json_process", label="JSON Process", description="Parse and edit JSON with JSONPath.",
    tools=(
        BuiltinTool("json_parse", "Extract the values a JSONPath matches.",
                    (CONTENT, Param("json_filter", "string", True, "JSONPath, e.g. $.items[0].name"), ASCII),
                    json_parse),
        BuiltinTool("json_insert", "Insert a value into the list or object a JSONPath matches.",
                    (CONTENT, Param("query", "string", True), Param("new_value", "string", True),
                     Param("index", "integer"), Param("create_path", "boolean", default=False), DECODE, ASCII),
                    json_insert),
        BuiltinTool("json_replace", "Replace a pattern, a key or a value at a JSONPath.",
                    (CONTENT, Param("query", "string", True), Param("replace_pattern", "string"),
                     Param("replace_value", "string", True),
                     Param("replace_model", "select", True, options=("pattern", "key", "value"), default="pattern"),
                     DECODE, ASCII), json_replace),
        BuiltinTool("json_delete", "Delete what a JSONPath matches.",
                    (CONTENT, Param("query", "string", True), ASCII), json_delete),
    ))
