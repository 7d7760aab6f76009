"""The `google_translate` provider: text translation through Google's public translate endpoint (no key), as
Dify's built-in of that name; `dest` is the target language code."""

from __future__ import annotations

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def translate(call: ToolCall) -> ToolResult:
    data = call.http_json("GET", call.endpoint("https://translate.googleapis.com") + "/translate_a/single",
                          params=[("client", "gtx"), ("sl", "auto"), ("tl", call.text("dest") or "en"),
                                  ("dt", "t"), ("q", call.text("content"))])
    try:
        text = "".join(segment[0] for segment in data[0] if segment and segment[0])
    except (TypeError, IndexError, KeyError) as exc:
        raise ToolInvokeError("google_translate: unexpected answer") from exc
    return ToolResult(text=text)


GOOGLE_TRANSLATE = BuiltinSpec(
    provider_id="google_translate", label="Google Translate", description="Translate text.",
    tools=(BuiltinTool("translate", "Translate text into another language.", (
        Param("content", "string", True), Param("dest", "string", True, "target language code, e.g. en",
                                                default="en", form="form")), translate),))
