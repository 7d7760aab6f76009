"""The benchmark harness in miniature, so it cannot rot: it starts the stack, measures, and writes a report.
The numbers are not checked; only that every section was measured without errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.stack import ROOT

pytestmark = pytest.mark.integration


def test_quick_bench_writes_a_complete_report(tmp_path):
    out = tmp_path / "bench.md"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    for section in ("Engine overhead in process", "Orchestration overhead end to end", "under concurrency",
                    "Enqueue-to-start"):
        assert section in report
    checked = 0
    errors_col = None
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or line.startswith("|---"):
            errors_col = None if not line.startswith("|") else errors_col
            continue
        if "errors" in cells:
            errors_col = cells.index("errors")
        elif errors_col is not None:
            assert cells[errors_col] == "0", line
            checked += 1
    assert checked >= 7, report  # 3 orchestration rows + 4 concurrency rows
