"""The `duckduckgo` provider: web search through DuckDuckGo's HTML endpoint (no account), results parsed from
the page. Only `ddgo_search` is offered; the translate, image and news tools of Dify's plugin are not."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup

from app.engine.ports import ToolResult
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def _target(href: str) -> str:
    """DuckDuckGo wraps result links in a redirect (`//duckduckgo.com/l/?uddg=<url>`); unwrap it."""
    parts = urlsplit(href)
    wrapped = parse_qs(parts.query).get("uddg")
    return wrapped[0] if parts.path.startswith("/l/") and wrapped else href


def search(call: ToolCall) -> ToolResult:
    reply = call.http("POST", call.endpoint("https://html.duckduckgo.com") + "/html/",
                      data={"q": call.text("query"), "b": ""},
                      headers=[("User-Agent", "Mozilla/5.0 (compatible; Trellis)")])
    soup = BeautifulSoup(reply.content.decode("utf-8", errors="replace"), "html.parser")
    results = []
    for item in soup.select("div.result"):
        link = item.select_one("a.result__a")
        if link is None or "result--ad" in (item.get("class") or []):
            continue
        snippet = item.select_one(".result__snippet")
        results.append({"title": link.get_text(" ", strip=True), "href": _target(str(link.get("href", ""))),
                        "body": snippet.get_text(" ", strip=True) if snippet else ""})
        if len(results) >= int(call.arguments.get("max_results") or 5):
            break
    text = "\n\n".join(f"{r['title']}\n{r['href']}\n{r['body']}" for r in results)
    return ToolResult(text=text or "No results", json=({"results": results},))


DUCKDUCKGO = BuiltinSpec(
    provider_id="duckduckgo", label="DuckDuckGo", aliases=("langgenius/duckduckgo/duckduckgo",),
    description="Web search with DuckDuckGo.",
    tools=(BuiltinTool("ddgo_search", "Search the web with DuckDuckGo.", (
        Param("query", "string", True), Param("max_results", "integer", default=5, form="form"),
        Param("require_summary", "boolean", default=False, form="form",
              description="ignored: summaries need a model")), search),))
