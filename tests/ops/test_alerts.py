"""`ops/prometheus/alerts.yml` is valid Prometheus rule syntax, and every alert fires on the failure it names and
stays quiet on a healthy system: the unit tests in `ops/prometheus/alerts_test.yml`, run by the real promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from bench.stack import ROOT

RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
UNIT_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian/Ubuntu package `prometheus`; `make test` installs it "
                             "when run as root)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]


@needs_promtool
def test_rules_pass_promtool_check():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in done.stdout


@needs_promtool
def test_every_alert_fires_on_its_failure_and_not_on_a_healthy_system():
    done = promtool("test", "rules", str(UNIT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    firing, quiet = set(), set()
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = set(alert_names())
    assert names and names <= firing, names - firing
    assert names <= quiet, names - quiet
    assert firing | quiet <= names, (firing | quiet) - names  # no test of an alert that no longer exists
