"""The `jina` provider: Jina Reader (`r.jina.ai/<url>`: a page as Markdown) and Jina Search (`s.jina.ai`).
The API key is optional (Jina serves keyless calls at a lower rate); with one it is sent as a bearer token."""

from __future__ import annotations

from urllib.parse import quote

from app.engine.ports import ToolResult
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

# Reader options that are flags in the node and headers on the wire.
READER_FLAGS = {"image_caption": ("X-With-Generated-Alt", "true"),
                "gather_all_links_at_the_end": ("X-With-Links-Summary", "true"),
                "gather_all_images_at_the_end": ("X-With-Images-Summary", "true"),
                "no_cache": ("X-No-Cache", "true")}
READER_VALUES = {"target_selector": "X-Target-Selector", "wait_for_selector": "X-Wait-For-Selector",
                 "proxy_server": "X-Proxy-Url"}


def _headers(call: ToolCall) -> list[tuple[str, str]]:
    headers = [("Accept", "text/plain")]
    key = call.credentials.get("api_key")
    if key:
        headers.append(("Authorization", f"Bearer {key}"))
    return headers


def reader(call: ToolCall) -> ToolResult:
    headers = _headers(call)
    headers += [pair for flag, pair in READER_FLAGS.items() if call.arguments.get(flag)]
    headers += [(header, call.text(name)) for name, header in READER_VALUES.items() if call.text(name)]
    base = call.endpoint("https://r.jina.ai")
    reply = call.http("GET", f"{base}/{call.text('url').strip()}", headers=headers)
    return ToolResult(text=reply.content.decode("utf-8", errors="replace"))


def search(call: ToolCall) -> ToolResult:
    base = call.endpoint("https://s.jina.ai")
    reply = call.http("GET", f"{base}/{quote(call.text('query').strip(), safe='')}", headers=_headers(call))
    return ToolResult(text=reply.content.decode("utf-8", errors="replace"))


def _flag(name: str) -> Param:
    return Param(name, "boolean", default=False, form="form")


JINA = BuiltinSpec(
    provider_id="jina", label="Jina AI", aliases=("langgenius/jina/jina", "langgenius/jina_tool/jina"),
    optional_credentials=("api_key",), description="Read web pages and search the web with Jina AI.",
    tools=(
        BuiltinTool("jina_reader", "Read a web page as Markdown.", (
            Param("url", "string", True, "the page URL"), *(_flag(f) for f in READER_FLAGS),
            *(Param(n, "string", form="form") for n in READER_VALUES), _flag("summary")), reader),
        BuiltinTool("jina_search", "Search the web; results as Markdown.",
                    (Param("query", "string", True),), search),
    ))
