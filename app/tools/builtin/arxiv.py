"""The `arxiv` provider: search arXiv's Atom API for papers (title, authors, date, summary)."""

from __future__ import annotations

from xml.etree import ElementTree

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

ATOM = "{http://www.w3.org/2005/Atom}"


def search(call: ToolCall) -> ToolResult:
    base = call.endpoint("https://export.arxiv.org")
    reply = call.http("GET", base + "/api/query", params=[
        ("search_query", f"all:{call.text('query')}"), ("start", "0"),
        ("max_results", str(int(call.arguments.get("max_results") or 3)))])
    try:
        root = ElementTree.fromstring(reply.content)  # noqa: S314 - capped, from the egress guard, no DTDs
    except ElementTree.ParseError as exc:
        raise ToolInvokeError("arxiv: the answer is not an Atom feed") from exc
    papers = []
    for entry in root.iter(f"{ATOM}entry"):
        papers.append({
            "title": " ".join((entry.findtext(f"{ATOM}title") or "").split()),
            "authors": [a.findtext(f"{ATOM}name") or "" for a in entry.iter(f"{ATOM}author")],
            "published": (entry.findtext(f"{ATOM}published") or "")[:10],
            "url": entry.findtext(f"{ATOM}id") or "",
            "summary": " ".join((entry.findtext(f"{ATOM}summary") or "").split())})
    if not papers:
        return ToolResult(text="No good arXiv result was found")
    text = "\n\n".join(f"Published: {p['published']}\nTitle: {p['title']}\nAuthors: {', '.join(p['authors'])}\n"
                       f"Summary: {p['summary']}" for p in papers)
    return ToolResult(text=text, json=({"papers": papers},))


ARXIV = BuiltinSpec(
    provider_id="arxiv", label="arXiv", aliases=("langgenius/arxiv/arxiv",), description="Search arXiv papers.",
    tools=(BuiltinTool("arxiv_search", "Search arXiv for papers.", (
        Param("query", "string", True), Param("max_results", "integer", default=3, form="form")), search),))
