"""File bytes to plain text, by extension: txt, md (and markdown, mdx), html, pdf (pypdf), docx
(python-docx), csv. Raises UnsupportedFileType for anything else and BadRequest for a file that cannot be read.
Pure: no I/O besides the bytes handed in."""

from __future__ import annotations

import csv
import io

from app.errors import BadRequest, UnsupportedFileType

DOCUMENT_EXTENSIONS = frozenset({"txt", "md", "markdown", "mdx", "html", "htm", "pdf", "docx", "csv"})


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), falling back to cp1252 so a legacy file still indexes."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()


def _docx(data: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs if p.text.strip()]
    for table in doc.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(parts)


def _csv(data: bytes) -> str:
    """One line per row, `column: value` pairs joined by `; ` (as Dify's CSV extractor does), so every row keeps
    its headers when segments split between rows."""
    rows = list(csv.reader(io.StringIO(decode_text(data))))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return "; ".join(header)
    return "\n".join("; ".join(f"{h.strip()}: {v.strip()}" for h, v in zip(header, row, strict=False))
                     for row in body)


def parse(data: bytes, extension: str) -> str:
    """The text of a file whose name ends in `.extension` (case-insensitive, without the dot)."""
    ext = extension.lower().lstrip(".")
    if ext not in DOCUMENT_EXTENSIONS:
        raise UnsupportedFileType(f"Cannot index .{ext} files; supported: {', '.join(sorted(DOCUMENT_EXTENSIONS))}")
    try:
        if ext in ("html", "htm"):
            return _html(data)
        if ext == "pdf":
            return _pdf(data)
        if ext == "docx":
            return _docx(data)
        if ext == "csv":
            return _csv(data)
        return decode_text(data)
    except (UnsupportedFileType, BadRequest):
        raise
    except Exception as exc:  # each parser has its own error zoo (PdfReadError, BadZipFile, csv.Error...)
        raise BadRequest(f"Could not read the .{ext} file: {type(exc).__name__}") from exc
