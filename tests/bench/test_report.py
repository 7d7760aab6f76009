"""The benchmarks document's sections: one is read or replaced, every other line stays as it was."""

from __future__ import annotations

from bench.report import replace_section, section

DOC = """# Benchmarks

Machine: test.

## Queue

Enqueue-to-start: p50 1 ms.

## Soak

old table

### a subsection of Soak

old detail

## Against the targets, and what bounds them

analysis
"""


def test_section_reads_up_to_the_next_section_with_its_subsections():
    assert section(DOC, "Soak") == ["## Soak", "", "old table", "", "### a subsection of Soak", "", "old detail"]
    assert section(DOC, "Queue") == ["## Queue", "", "Enqueue-to-start: p50 1 ms."]
    assert section(DOC, "Missing") is None
    assert section(DOC, "Soa") is None  # a whole heading, not a prefix


def test_replace_section_replaces_only_that_section(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    replace_section(path, "Soak", ["new table"])
    text = path.read_text()
    assert section(text, "Soak") == ["## Soak", "", "new table"]
    assert "old" not in text
    assert text.replace("## Soak\n\nnew table\n\n", "") == DOC.replace(
        "## Soak\n\nold table\n\n### a subsection of Soak\n\nold detail\n\n", "")


def test_a_new_section_goes_before_the_hand_written_analysis(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    replace_section(path, "Capacity of one worker process", ["| a |"],
                    before="## Against the targets, and what bounds them")
    lines = path.read_text().splitlines()
    at = lines.index("## Capacity of one worker process")
    assert lines[at - 1] == "" and lines[at + 2] == "| a |"
    assert at < lines.index("## Against the targets, and what bounds them")
    assert lines.index("## Soak") < at


def test_replace_section_creates_the_document(tmp_path):
    path = tmp_path / "new.md"
    replace_section(path, "Soak", ["x"])
    replace_section(path, "Soak", ["y"])
    assert path.read_text() == "# Benchmarks\n\n## Soak\n\ny\n"
