"""The `tavily` provider: Tavily's search and extract APIs (an API key from tavily.com, sent as a bearer token)."""

from __future__ import annotations

import json
from typing import Any

from app.engine.ports import ToolResult
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

SEARCH_OPTIONS = ("search_depth", "topic", "max_results", "include_answer", "include_images", "include_raw_content",
                  "days")


def _domains(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [d.strip() for d in str(value or "").replace(";", ",").split(",") if d.strip()]


def _headers(call: ToolCall) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {call.credentials['api_key']}"), ("Content-Type", "application/json")]


def search(call: ToolCall) -> ToolResult:
    body: dict[str, Any] = {"query": call.text("query")}
    body.update({k: call.arguments[k] for k in SEARCH_OPTIONS if call.arguments.get(k) not in (None, "")})
    for key in ("include_domains", "exclude_domains"):
        if _domains(call.arguments.get(key)):
            body[key] = _domains(call.arguments.get(key))
    data = call.http_json("POST", call.endpoint("https://api.tavily.com") + "/search", headers=_headers(call),
                          content=json.dumps(body).encode())
    lines = [f"Answer: {data['answer']}\n"] if data.get("answer") else []
    for item in data.get("results") or []:
        lines.append(f"# {item.get('title', '')}\n{item.get('url', '')}\n{item.get('content', '')}\n")
    return ToolResult(text="\n".join(lines), json=(data,))


def extract(call: ToolCall) -> ToolResult:
    urls = _domains(call.arguments.get("urls"))
    data = call.http_json("POST", call.endpoint("https://api.tavily.com") + "/extract", headers=_headers(call),
                          content=json.dumps({"urls": urls}).encode())
    text = "\n\n".join(f"# {r.get('url', '')}\n{r.get('raw_content', '')}" for r in data.get("results") or [])
    return ToolResult(text=text, json=(data,))


TAVILY = BuiltinSpec(
    provider_id="tavily", label="Tavily", aliases=("langgenius/tavily/tavily",), credentials=("api_key",),
    description="Web search and page extraction by Tavily.",
    tools=(
        BuiltinTool("tavily_search", "Search the web with Tavily.", (
            Param("query", "string", True),
            Param("search_depth", "select", options=("basic", "advanced"), default="basic", form="form"),
            Param("topic", "select", options=("general", "news"), form="form"),
            Param("max_results", "integer", default=5, form="form"),
            Param("include_answer", "boolean", default=False, form="form"),
            Param("include_images", "boolean", default=False, form="form"),
            Param("include_raw_content", "boolean", default=False, form="form"),
            Param("days", "integer", form="form"),
            Param("include_domains", "string", form="form"), Param("exclude_domains", "string", form="form")),
            search),
        BuiltinTool("tavily_extract", "Extract the content of web pages (URLs separated by commas).",
                    (Param("urls", "string", True),), extract),
    ))
