"""`document-extractor`: turns uploaded files into text. Input is one file (output `text`, a string) or a list
of files (output `text`, a list of strings). Supported: txt, md, html, csv (as a Markdown table), json, yaml,
pdf (pypdf) and docx (python-docx, tables as Markdown).

A file is a dict in Dify's file shape (`filename`, `extension`, `mime_type`, ...). Its bytes come from the
dict itself (`content` as bytes) or from the files port, `ctx.services.files` (the engine's `FileStore`: uploads
from the object store, remote URLs through the egress guard); the engine reads nothing from disk itself.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from typing import Any

from pydantic import Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError

TEXT_EXTENSIONS = frozenset({"txt", "text", "md", "markdown", "mdx", "json", "yaml", "yml", "log", "xml", "vtt"})
MIME_EXTENSIONS = {"text/plain": "txt", "text/markdown": "md", "text/html": "html", "text/csv": "csv",
                   "application/pdf": "pdf", "application/json": "json",
                   "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx"}


class ExtractorData(NodeData):
    variable_selector: list[str] = Field(default_factory=list)


class _TextOfHtml(HTMLParser):
    SKIP = frozenset({"script", "style", "head", "noscript"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _html(raw: bytes) -> str:
    parser = _TextOfHtml()
    parser.feed(_decode(raw))
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _markdown_table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [[c.replace("|", "\\|").replace("\n", " ") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _csv(raw: bytes) -> str:
    return _markdown_table([row for row in csv.reader(io.StringIO(_decode(raw))) if row])


def _pdf(raw: bytes) -> str:
    from pypdf import PdfReader  # optional heavy import, only when a PDF arrives

    reader = PdfReader(io.BytesIO(raw))
    return "\n".join((page.extract_text() or "") for page in reader.pages).strip()


def _docx(raw: bytes) -> str:
    import docx  # python-docx

    document = docx.Document(io.BytesIO(raw))
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        parts.append(_markdown_table([[cell.text for cell in row.cells] for row in table.rows]))
    return "\n".join(parts)


def extension_of(file: dict[str, Any]) -> str:
    ext = str(file.get("extension") or "").lower().lstrip(".")
    if not ext:
        name = str(file.get("filename") or file.get("name") or "")
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not ext:
        ext = MIME_EXTENSIONS.get(str(file.get("mime_type") or "").split(";")[0].strip(), "")
    return ext


def extract_text(ext: str, raw: bytes) -> str:
    """Text of a document of type `ext`. Raises WorkflowError for unsupported or unreadable files."""
    try:
        if ext in TEXT_EXTENSIONS:
            return _decode(raw)
        if ext in ("html", "htm"):
            return _html(raw)
        if ext == "csv":
            return _csv(raw)
        if ext == "pdf":
            return _pdf(raw)
        if ext == "docx":
            return _docx(raw)
    except WorkflowError:
        raise
    except Exception as exc:  # parser libraries raise their own trees; the node reports one error
        raise WorkflowError(f"failed to extract text from .{ext} file: {type(exc).__name__}: {exc}") from exc
    raise WorkflowError(f"Unsupported file type: .{ext or '?'}")


class DocumentExtractorNode(Node):
    type = "document-extractor"
    data_model = ExtractorData
    data: ExtractorData

    def selectors(self) -> list[list[str]]:
        return [self.data.variable_selector] if self.data.variable_selector else []

    @staticmethod
    def _bytes(ctx: NodeContext, file: Any) -> bytes:
        if not isinstance(file, dict):
            raise WorkflowError("document extractor input must be a file or a list of files")
        content = file.get("content")
        if isinstance(content, bytes | bytearray):
            return bytes(content)
        store = ctx.services.files
        if store is None:
            raise WorkflowError("no file store is configured to read uploaded files")
        return store.read(file)

    def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.pool.get(self.data.variable_selector)
        if value is None:
            raise WorkflowError(f"Variable {'.'.join(self.data.variable_selector)} not found")
        files = value if isinstance(value, list) else [value]
        store = ctx.services.files
        if store is not None:  # a bare reference (an upload id, a URL) gains its name and type first
            files = [store.describe(f) if isinstance(f, dict) and not extension_of(f) else f for f in files]
        texts = [extract_text(extension_of(f if isinstance(f, dict) else {}), self._bytes(ctx, f)) for f in files]
        shown = [{k: v for k, v in f.items() if k != "content"} if isinstance(f, dict) else f for f in files]
        return NodeResult(inputs={"variable_selector": shown},
                          outputs={"text": texts if isinstance(value, list) else texts[0]})
