"""The benchmark harness in miniature, so it cannot rot: it starts the stack, measures, and writes a report.
The numbers are not checked; only that every section was measured without errors, that every API and worker
class combination ran, and that the capacity and soak sections reached their verdicts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.report import section
from bench.stack import ROOT

pytestmark = pytest.mark.integration


def error_cells(report: str) -> list[tuple[str, str]]:
    """(row, errors cell) of every table row under a header that has an `errors` column."""
    cells_seen: list[tuple[str, str]] = []
    errors_col = None
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or line.startswith("|---"):
            errors_col = None if not line.startswith("|") else errors_col
            continue
        if "errors" in cells:
            errors_col = cells.index("errors")
        elif errors_col is not None:
            cells_seen.append((line, cells[errors_col]))
    return cells_seen


@pytest.mark.timeout(900)  # about 13 stacks start and stop; each section's own load lasts seconds
def test_quick_bench_writes_a_complete_report(tmp_path):
    out = tmp_path / "bench.md"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    for heading in ("Engine overhead in process", "Orchestration overhead end to end", "under concurrency",
                    "Enqueue-to-start", "## Product CPU per run", "## Capacity of one worker process",
                    "## Metrics and audit overhead", "## API and worker classes", "## Soak"):
        assert heading in report
    rows = error_cells(report)
    assert all(cell == "0" for _, cell in rows), [row for row, cell in rows if cell != "0"]
    # 3 orchestration + 4 concurrency + 4 metrics (GET and runs, on and off) + 4 class combinations + 3 soak rows
    assert len(rows) >= 18, report
    for api, worker in (("gthread", "thread"), ("gevent", "thread"), ("gthread", "greenlet"), ("gevent", "greenlet")):
        assert any(row.startswith(f"| {api} | {worker} | 4 |") for row, _ in rows), (api, worker)
    assert "Verdict: 20 of 20 runs in flight at once (reached)" in report
    soak = "\n".join(section(report, "Soak") or [])
    assert "Verdict:" in soak and ", 0 errors." in soak
    for line in report.splitlines():
        if "requests/s off/on" in line:
            assert "nan" not in line, line  # both settings completed work
