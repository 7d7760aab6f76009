"""The Grafana dashboard and the alert rules query only metrics the code exposes, under the sample names a scrape
of `/metrics` shows (counters with `_total`, histograms with `_bucket`/`_sum`/`_count`), and every dashboard query
is valid PromQL once Grafana's variables are expanded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.prometheus import expand, grafana_intervals
from bench.stack import ROOT

DASHBOARD = ROOT / "ops" / "grafana" / "trellis.json"
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
NAME = re.compile(r"\btrellis_[a-z0-9_]+")
# In a fresh process: every metric app/metrics.py defines, with one child per labelled metric (a labelled metric
# shows no sample until then), plus the scrape-time queue metrics, exactly as `/metrics` renders them.
EXPOSE = """
import dataclasses, sys
from app.metrics import exposition, metrics
m = metrics()
for field in dataclasses.fields(m):
    metric = getattr(m, field.name)
    if metric._labelnames:
        metric.labels(*["x"] * len(metric._labelnames))
probe = lambda: {"pending": 0, "scheduled": 0, "runs": {"queued": 0, "running": 0}, "oldest_queued_age": 0.0,
                 "paused": {"runs": False}}
sys.stdout.write(exposition(probe).decode())
"""


def exposed_names() -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([sys.executable, "-c", EXPOSE], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {sample.name for family in text_string_to_metric_families(out) for sample in family.samples}


def dashboard_exprs() -> dict[str, str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {f"panel {p['id']} ({p['title']}) {t['refId']}": t["expr"] for p in panels for t in p.get("targets", [])}


def alert_exprs() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_every_metric_queried_is_exposed_by_the_code():
    exposed = exposed_names()
    assert "trellis_http_requests_total" in exposed and "trellis_queue_depth" in exposed  # the harness works
    unknown = {f"{where}: {name}" for where, expr in {**dashboard_exprs(), **alert_exprs()}.items()
               for name in NAME.findall(expr) if name not in exposed}
    assert not unknown, sorted(unknown)


def test_every_panel_queries_something():
    panels = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]
    assert panels and all(p.get("targets") and all(NAME.search(t["expr"]) for t in p["targets"]) for p in panels)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (package `prometheus`)")
def test_dashboard_queries_are_valid_promql(tmp_path: Path):
    # promtool parses rule expressions offline: every expanded panel query becomes a recording rule.
    variables = {**grafana_intervals(3 * 3600, 1000, 15), "datasource": "prometheus"}
    rules = [{"record": f"dashboard:query_{i}", "expr": expand(expr, variables)}
             for i, expr in enumerate(dashboard_exprs().values())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
