"""The `wikipedia` provider: search Wikipedia (MediaWiki's API) and return the intros of the best pages."""

from __future__ import annotations

from app.engine.ports import ToolResult
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

# The node's `language` is a code (`en`) in recent exports and a name (`English`) in some older ones.
LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "中文": "zh", "japanese": "ja", "german": "de", "french": "fr",
                  "spanish": "es", "russian": "ru", "italian": "it", "portuguese": "pt", "korean": "ko"}
MAX_PAGES = 3


def search(call: ToolCall) -> ToolResult:
    language = call.text("language").strip().lower() or "en"
    language = LANGUAGE_NAMES.get(language, language if language.isalpha() and len(language) <= 3 else "en")
    base = call.endpoint(f"https://{language}.wikipedia.org")
    data = call.http_json("GET", base + "/w/api.php", params=[
        ("action", "query"), ("format", "json"), ("generator", "search"), ("gsrsearch", call.text("query")),
        ("gsrlimit", str(MAX_PAGES)), ("prop", "extracts"), ("exintro", "1"), ("explaintext", "1")])
    pages = sorted((data.get("query") or {}).get("pages", {}).values(), key=lambda p: p.get("index", 0))
    if not pages:
        return ToolResult(text="No good Wikipedia Search Result was found")
    text = "\n\n".join(f"Page: {p.get('title', '')}\nSummary: {p.get('extract', '').strip()}" for p in pages)
    return ToolResult(text=text, json=({"pages": [{"title": p.get("title"), "summary": p.get("extract")}
                                                  for p in pages]},))


WIKIPEDIA = BuiltinSpec(
    provider_id="wikipedia", label="Wikipedia", aliases=("langgenius/wikipedia/wikipedia",),
    description="Search Wikipedia.",
    tools=(BuiltinTool("wikipedia_search", "Search Wikipedia and return page summaries.", (
        Param("query", "string", True), Param("language", "string", default="en", form="form")), search),))
