"""The `md_exporter` provider (`bowenliang123/md_exporter`): Markdown to an HTML, DOCX or Markdown file, stored
through the files port and returned as a tool file. PDF, PPTX and the other formats of the plugin are not
offered (their tools are reported as missing)."""

from __future__ import annotations

import io
import re
from typing import Any

from docx import Document
from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UNSAFE_NAME = re.compile(r"[\\/:*?\"<>|\x00-\x1f]+")


def _markdown(call: ToolCall) -> str:
    text = call.text("md_text").strip()
    # Models often wrap the document in a ```markdown fence.
    fenced = re.fullmatch(r"```(?:markdown|md)?\s*\n(.*?)\n```", text, re.DOTALL)
    return fenced.group(1) if fenced else text


def _save(call: ToolCall, extension: str, data: bytes, mime: str) -> ToolResult:
    files = call.context.files
    if files is None:
        raise ToolInvokeError("md_exporter: no file store is configured to keep the exported file")
    stem = UNSAFE_NAME.sub("_", call.text("output_filename").strip())[:100] or "output"
    saved = files.save(call.context.workspace_id, f"{stem}.{extension}", data, mime)
    return ToolResult(files=(saved,))


def to_html(call: ToolCall) -> ToolResult:
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(_markdown(call))
    page = f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{body}</body></html>\n"
    return _save(call, "html", page.encode(), "text/html")


def to_markdown(call: ToolCall) -> ToolResult:
    return _save(call, "md", _markdown(call).encode(), "text/markdown")


def _inline_text(token: Token) -> str:
    return "".join("\n" if c.type in ("softbreak", "hardbreak") else c.content for c in token.children or [])


def _docx_table(document: Any, rows: list[list[str]]) -> None:
    if not rows:
        return
    table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell


def to_docx(call: ToolCall) -> ToolResult:
    tokens = MarkdownIt("commonmark").enable("table").parse(_markdown(call))
    document = Document()
    style = "Normal"
    lists: list[str] = []  # the styles of the lists we are inside, innermost last
    rows: list[list[str]] = []  # the table being read
    for token in tokens:
        if token.type == "heading_open":
            style = f"Heading {min(int(token.tag[1]), 9)}"
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            lists.append("List Bullet" if token.type.startswith("bullet") else "List Number")
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "tr_open":
            rows.append([])
        elif token.type == "table_close":
            _docx_table(document, rows)
            rows = []
        elif token.type == "inline" and rows:
            rows[-1].append(_inline_text(token))
        elif token.type == "inline":
            document.add_paragraph(_inline_text(token), style=lists[-1] if lists and style == "Normal" else style)
            style = "Normal"
        elif token.type in ("fence", "code_block"):
            document.add_paragraph(token.content.rstrip("\n"), style="No Spacing")
    buffer = io.BytesIO()
    document.save(buffer)
    return _save(call, "docx", buffer.getvalue(), DOCX_MIME)


PARAMS = (Param("md_text", "string", True, "the Markdown text"),
          Param("output_filename", "string", description="file name without extension"))
MD_EXPORTER = BuiltinSpec(
    provider_id="md_exporter", label="Markdown Exporter", aliases=("bowenliang123/md_exporter/md_exporter",),
    description="Export Markdown as HTML, DOCX or Markdown files.",
    tools=(BuiltinTool("md_to_html", "Markdown to an HTML file.", PARAMS, to_html),
           BuiltinTool("md_to_docx", "Markdown to a Word (DOCX) file.", PARAMS, to_docx),
           BuiltinTool("md_to_md", "Markdown to a .md file.", PARAMS, to_markdown)))
