"""The `webscraper` provider: fetch a web page through the egress guard and return its readable content as
Markdown (scripts, styles and page chrome dropped). Needs no account."""

from __future__ import annotations

from bs4 import BeautifulSoup
from markdownify import markdownify

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

DEFAULT_AGENT = "Mozilla/5.0 (compatible; Trellis webscraper)"
NOISE = ("script", "style", "noscript", "iframe", "svg", "nav", "footer", "header", "form")


def page_markdown(html: str) -> tuple[str, str]:
    """The title and readable Markdown of an HTML page."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(NOISE):
        tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    text = markdownify(str(body), heading_style="ATX", strip=["img"])
    lines = [line.rstrip() for line in text.splitlines()]
    compact = "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1]))
    return title, compact.strip()


def scrape(call: ToolCall) -> ToolResult:
    url = call.text("url").strip()
    if not url:
        raise ToolInvokeError("webscraper: url is required")
    reply = call.http("GET", url, headers=[("User-Agent", call.text("user_agent") or DEFAULT_AGENT)])
    if reply.is_file:
        raise ToolInvokeError(f"webscraper: {url} is a file ({reply.content_type}), not a web page")
    html = reply.content.decode("utf-8", errors="replace")
    title, text = page_markdown(html) if "html" in reply.content_type or "<html" in html[:500].lower() \
        else ("", html)
    return ToolResult(text=(f"# {title}\n\n" if title else "") + text,
                      json=({"url": reply.url, "title": title, "content": text},))


WEBSCRAPER = BuiltinSpec(
    provider_id="webscraper", label="Web Scraper", description="Read a web page as text.",
    tools=(BuiltinTool("webscraper", "Fetch a web page and return its readable content.", (
        Param("url", "string", True, "the page URL"),
        Param("user_agent", "string", form="form"),
        Param("generate_summary", "boolean", form="form", description="ignored: summaries need a model")), scrape),))
