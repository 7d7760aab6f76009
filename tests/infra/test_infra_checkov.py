"""checkov's Kubernetes checks pass on the rendered manifests of every stack (dev, prod's layers, local).

Each check a workload knowingly fails is waived on the object itself with its reason
(``infra/platform/waivers.py``); anything else fails here. checkov lives in its own virtualenv
(``make checkov-venv`` -> ``.venv-checkov``, pinned in requirements-checkov.txt) because its dependencies
conflict with the app's; set ``CHECKOV`` to use another binary. Skips with the reason when absent.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import built
from infra_harness import REPO

from infra.platform.waivers import WAIVERS

CHECKOV = Path(os.environ.get("CHECKOV") or REPO / ".venv-checkov/bin/checkov")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV}: run `make checkov-venv` (requirements-checkov.txt)")
    folder = tmp_path_factory.mktemp("manifests")
    for env in ("dev", "prod", "local"):
        (folder / f"{env}.yaml").write_text(yaml.safe_dump_all(list(built(env).manifests())))
    done = subprocess.run([str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "-o", "json", "--compact",
                           "--skip-download"], capture_output=True, text=True, timeout=300)
    assert done.stdout, done.stderr[-2000:]
    parsed = json.loads(done.stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def test_every_manifest_passes_checkov_or_is_waived_with_a_reason(report: list[dict]) -> None:
    failed = [f"{c['resource']}: {c['check_id']} {c['check_name']}" for r in report
              for c in r["results"]["failed_checks"]]
    assert failed == []
    skipped = [c for r in report for c in r["results"]["skipped_checks"]]
    assert skipped and all(c["check_result"]["suppress_comment"] == WAIVERS[c["check_id"]] for c in skipped)


def test_checkov_saw_every_object(report: list[dict]) -> None:
    objects = sum(len(list(built(env).manifests())) for env in ("dev", "prod", "local"))
    assert sum(r["summary"]["resource_count"] for r in report) >= objects  # checkov also counts pod templates
    assert sum(r["summary"]["parsing_errors"] for r in report) == 0
    assert sum(r["summary"]["passed"] for r in report) > 1000


def test_prod_app_needs_no_image_waiver(report: list[dict]) -> None:
    # Pinned by digest: the image checks pass outright for prod's app workloads.
    prod_app = [c for r in report for c in r["results"]["skipped_checks"] + r["results"]["passed_checks"]
                if c["resource"] in ("Deployment.trellis-prod.trellis-api", "Deployment.trellis-prod.trellis-worker")]
    assert prod_app
    assert {c["check_id"] for c in prod_app if c["check_result"]["result"] == "SKIPPED"} == {"CKV_K8S_35"}
