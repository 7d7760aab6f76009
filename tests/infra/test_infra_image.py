"""The Dockerfile and .dockerignore keep the image contract the platform relies on (static checks;
no Docker daemon here), and the CI workflow runs preview on PRs and up on main."""

from __future__ import annotations

import json
import re

import yaml
from infra_harness import REPO

from infra.layer import LAYER_ORDER
from infra.platform.api import API_COMMAND
from infra.platform.spec import APP_UID

DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_multi_stage_with_pinned_base() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\w+)", DOCKERFILE, re.M)
    assert [name for _, name in stages] == ["build", "runtime"]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1))


def test_runs_as_the_platform_uid_with_the_api_by_default() -> None:
    assert f"USER {APP_UID}:{APP_UID}" in DOCKERFILE
    cmd = re.search(r"^CMD (\[.*\])", DOCKERFILE, re.M)
    assert cmd and yaml.safe_load(cmd.group(1)) == list(API_COMMAND)
    assert "compileall" in DOCKERFILE  # no .pyc writes needed on a read-only root filesystem


def test_image_contains_what_the_processes_need() -> None:
    for path in ("app/", "worker/", "migrations/", "wsgi.py alembic.ini gunicorn.conf.py", "requirements.txt"):
        assert path in DOCKERFILE
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "**"  # deny by default: nothing enters the build context unless listed
    assert "!app/" in ignore and "!worker/" in ignore and "!migrations/" in ignore


def test_ci_previews_pull_requests_and_deploys_main() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/infra.yml").read_text())
    jobs = workflow["jobs"]
    preview = [s for s in jobs["preview"]["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert preview[0]["with"]["command"] == "preview" and preview[0]["with"]["policyPacks"] == "infra/policy"
    assert jobs["preview"]["if"] == "github.event_name == 'pull_request'"
    assert preview[0]["with"]["stack-name"] == "${{ matrix.stack }}-${{ matrix.layer }}"
    assert jobs["preview"]["strategy"]["matrix"]["layer"] == [layer.value for layer in LAYER_ORDER]
    assert jobs["deploy"]["if"] == "github.event_name == 'push'"
    runs = [s.get("run", "") for s in jobs["deploy"]["steps"]]
    assert any(r.startswith("make deploy ENV=${{ matrix.stack }}") for r in runs)
    assert "--target" not in json.dumps(workflow)  # the first `up` never depends on a partial update
    assert jobs["deploy"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]


def test_make_deploy_runs_the_layers_in_order_around_the_image_push() -> None:
    makefile = (REPO / "Makefile").read_text()
    before = re.search(r"^LAYERS_BEFORE_IMAGE := (.+)$", makefile, re.M)
    after = re.search(r"^LAYERS_AFTER_IMAGE := (.+)$", makefile, re.M)
    assert before and after
    assert before.group(1).split() + after.group(1).split() == [layer.value for layer in LAYER_ORDER]
    assert before.group(1).split()[-1] == "data"  # the registry exists before the push; the app after it
    recipe = makefile[makefile.index("\ndeploy:"):makefile.index("\nimage:")]
    assert recipe.index("LAYERS_BEFORE_IMAGE") < recipe.index("$(MAKE) image") < recipe.index("LAYERS_AFTER_IMAGE")
