"""The benchmarks document (`docs/benchmarks.md`) as `## ` sections: read one, or replace one in place.

`make bench` writes the whole document; a benchmark run on its own (`make soak`, `python -m bench.capacity`)
replaces only its section, so the other numbers stay as they were measured."""

from __future__ import annotations

from pathlib import Path

from bench.stack import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
# The hand-written analysis that `make bench` appends; a new section goes before it, with the measurements.
ANALYSIS = ROOT / "docs" / "benchmarks-analysis.md"


def _bounds(lines: list[str], title: str) -> tuple[int, int] | None:
    """Line range [start, end) of the section headed `## title`, the heading included."""
    heading = f"## {title}"
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, end


def section(text: str, title: str) -> list[str] | None:
    """The section `## title` of `text` (heading included, trailing blank lines dropped), or None."""
    lines = text.splitlines()
    bounds = _bounds(lines, title)
    if bounds is None:
        return None
    body = lines[bounds[0]:bounds[1]]
    while body and not body[-1].strip():
        body.pop()
    return body


def _analysis_heading() -> str | None:
    if not ANALYSIS.exists():
        return None
    return next((line.rstrip() for line in ANALYSIS.read_text().splitlines() if line.startswith("## ")), None)


def replace_section(path: Path, title: str, body: list[str], before: str | None = None) -> None:
    """Write `## title` followed by `body` into the document at `path`: in place of the section of that title if
    there is one, else before the heading `before` (default: the hand-written analysis's first), or at the end.
    Creates the file if missing."""
    lines = path.read_text().splitlines() if path.exists() else ["# Benchmarks", ""]
    new = [f"## {title}", "", *body, ""]
    bounds = _bounds(lines, title)
    if bounds is None:
        anchor = before or _analysis_heading()
        at = next((i for i, line in enumerate(lines) if line.rstrip() == anchor), len(lines))
        bounds = (at, at)
    if bounds[0] and lines[bounds[0] - 1].strip():
        new.insert(0, "")
    lines[bounds[0]:bounds[1]] = new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
