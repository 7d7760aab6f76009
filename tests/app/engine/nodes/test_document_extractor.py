"""`document-extractor`: text from txt, md, html, csv, pdf and docx files, bytes inline or via the files port."""

from __future__ import annotations

import io

import pytest

from app.engine.nodes.document_extractor import extract_text
from app.engine.ports import NodeServices
from app.errors import WorkflowError
from tests.app.engine.harness import edge, end, graph, node, run, start


class DictFiles:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def read(self, file):
        return self.blobs[file["id"]]


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 10 40 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def extractor_graph():
    return graph([start(), node("de", "document-extractor", variable_selector=["start", "files"]),
                  end(text=["de", "text"])], [edge("start", "de"), edge("de", "end")])


def test_list_of_files_through_the_port_and_single_inline_file():
    files = [{"id": "1", "filename": "notes.md", "extension": ".md"},
             {"id": "2", "filename": "page.html", "mime_type": "text/html"},
             {"id": "3", "filename": "t.csv"}]
    port = DictFiles({"1": b"# Title\nbody", "3": b"name,qty\nbolt,3\n",
                      "2": b"<html><head><style>x{}</style></head><body><p>Hello</p><script>1</script>"
                           b"<div>World &amp; co</div></body></html>"})
    result = run(extractor_graph(), {"files": files}, services=NodeServices(files=port))
    assert result.outcome.outputs["text"] == ["# Title\nbody", "Hello\nWorld & co",
                                              "| name | qty |\n|---|---|\n| bolt | 3 |"]
    single = run(extractor_graph(), {"files": {"filename": "a.txt", "content": "héllo".encode()}})
    assert single.outcome.outputs == {"text": "héllo"}
    assert "content" not in single.record("de").inputs["variable_selector"][0]


def test_pdf_and_docx():
    docx = pytest.importorskip("docx")
    pypdf = pytest.importorskip("pypdf")
    document = docx.Document()
    document.add_paragraph("Quarterly report")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "q1", "up"
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text("docx", buffer.getvalue()) == "Quarterly report\n| q1 | up |\n|---|---|"
    assert pypdf
    assert extract_text("pdf", tiny_pdf("Hello PDF")) == "Hello PDF"
    with pytest.raises(WorkflowError, match="pdf"):
        extract_text("pdf", b"not a pdf")


def test_unsupported_type_and_missing_port_fail_the_node():
    with pytest.raises(WorkflowError, match="Unsupported"):
        extract_text("exe", b"MZ")
    outcome = run(extractor_graph(), {"files": [{"id": "1", "filename": "a.txt"}]}).outcome
    assert outcome.status == "failed" and "file store" in outcome.error
