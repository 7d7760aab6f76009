"""Built-ins that read or make files (`base64_codec`, `md_exporter`) through the files port: an in-memory
store here; the upload-store implementation is tested in tests/app/services/tools."""

from __future__ import annotations

import base64
import io

import pytest
from docx import Document

from app.errors import ToolInvokeError
from app.tools.provider import ProviderContext
from tests.app.tools.builtin.calls import MemoryFiles, call


def test_base64_text_both_ways_and_an_image_file():
    assert call("base64_codec", "base64_encoder", input_text="héllo").text == "aMOpbGxv"
    assert call("base64_codec", "base64_decoder", input_text="aMOpbGxv").text == "héllo"
    files = MemoryFiles()
    image = files.save("ws", "a.png", b"\x89PNG-bytes", "image/png")
    encoded = call("base64_codec", "base64_image_encoder", ProviderContext(files=files), input_image=[image]).text
    assert base64.b64decode(encoded) == b"\x89PNG-bytes"
    with pytest.raises(ToolInvokeError, match="no file store"):
        call("base64_codec", "base64_image_encoder", input_image=image)


def test_markdown_exports_to_html_and_docx_files():
    files = MemoryFiles()
    context = ProviderContext(files=files, workspace_id="ws")
    markdown = "```markdown\n# Title\n\nSome *text*.\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n```"
    html = call("md_exporter", "md_to_html", context, md_text=markdown, output_filename="re/port")
    saved = html.files[0]
    assert saved["filename"] == "re_port.html" and saved["mime_type"] == "text/html"
    page = files.saved[saved["related_id"]][0].decode()
    assert "<h1>Title</h1>" in page and "<em>text</em>" in page and "<td>2</td>" in page
    docx = call("md_exporter", "md_to_docx", context, md_text=markdown).files[0]
    document = Document(io.BytesIO(files.saved[docx["related_id"]][0]))
    assert [p.text for p in document.paragraphs][:4] == ["Title", "Some text.", "one", "two"]
    assert document.paragraphs[0].style.name == "Heading 1" and document.tables[0].cell(1, 1).text == "2"
