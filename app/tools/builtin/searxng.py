"""The `searxng` provider: search through the workspace's own SearXNG instance (credential
`searxng_base_url`; the instance must allow the JSON format)."""

from __future__ import annotations

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

CATEGORIES = {"page": "general", "news": "news", "image": "images", "video": "videos", "file": "files"}


def search(call: ToolCall) -> ToolResult:
    base = call.credentials["searxng_base_url"].rstrip("/")
    category = CATEGORIES.get(call.text("search_type").lower(), "general")
    data = call.http_json("GET", base + "/search", params=[("q", call.text("query")), ("format", "json"),
                                                           ("categories", category)])
    results = (data.get("results") or [])[: int(call.arguments.get("num_results") or 5)]
    if not isinstance(results, list):
        raise ToolInvokeError("searxng: unexpected answer")
    if call.text("result_type") == "link":
        text = "\n".join(f"{r.get('title', '')}: {r.get('url', '')}" for r in results)
    else:
        text = "\n\n".join(f"# {r.get('title', '')}\n{r.get('url', '')}\n{r.get('content', '')}" for r in results)
    return ToolResult(text=text, json=({"results": results},))


SEARXNG = BuiltinSpec(
    provider_id="searxng", label="SearXNG", aliases=("langgenius/searxng/searxng",),
    credentials=("searxng_base_url",), description="Meta search through a SearXNG instance.",
    tools=(BuiltinTool("searxng_search", "Search the web through SearXNG.", (
        Param("query", "string", True),
        Param("search_type", "select", options=("page", "news", "image", "video", "file"), default="page",
              form="form"),
        Param("result_type", "select", options=("text", "link"), default="text", form="form"),
        Param("num_results", "integer", default=5, form="form")), search),))
