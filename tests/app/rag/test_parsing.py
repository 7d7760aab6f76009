"""Parsing each supported format from bytes made in the test (a PDF assembled by hand, a DOCX by python-docx)."""

from __future__ import annotations

import io

import pytest

from app.errors import BadRequest, UnsupportedFileType
from app.rag.parsing import parse


def make_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx() -> bytes:
    from docx import Document

    doc = Document()
    doc.add_paragraph("Shipping delay policy")
    table = doc.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Late by", "5 days"
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def test_text_markdown_and_encodings():
    assert parse(b"# Title\n\nbody", "md") == "# Title\n\nbody"
    assert parse("\ufeffcafé".encode(), "TXT") == "café"
    assert parse("café".encode("cp1252"), "txt") == "café"


def test_html_drops_scripts_and_keeps_text():
    html = b"<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Policy</h1><p>Refunds " \
           b"in <b>5</b> days</p></body></html>"
    text = parse(html, "html")
    assert "alert" not in text and "p{}" not in text
    assert text.splitlines()[0] == "Policy" and "Refunds" in text and "days" in text


def test_pdf_docx_csv():
    assert parse(make_pdf("Parcels late by five days are refunded."), "pdf") == \
        "Parcels late by five days are refunded."
    assert parse(make_docx(), "docx") == "Shipping delay policy\nLate by | 5 days"
    assert parse(b"question,answer\nhours,9 to 5\nrefund,5 days\n", "csv") == \
        "question: hours; answer: 9 to 5\nquestion: refund; answer: 5 days"


def test_unsupported_and_corrupt_files():
    with pytest.raises(UnsupportedFileType):
        parse(b"MZ", "exe")
    with pytest.raises(BadRequest, match="docx"):
        parse(b"not a zip", "docx")
