"""`flask tasks`: list, show, retry and cancel runs, pause/resume/purge the queue and list workers through the
CLI, on the real services; actions land in the audit trail."""

from __future__ import annotations

import json

from app.services.accounts import AppPrincipal
from app.services.audit import AuditFilter
from tests.conftest import SAMPLES


def test_tasks_cli_lists_shows_cancels_and_retries(flask_app, container):
    container.huey.immediate = False  # runs stay queued: no consumer
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    who = AppPrincipal(workspace, app.id, "k")
    first = container.runs.submit(who, {"name": "Ada"}, "u", "streaming").run_id
    runner = flask_app.test_cli_runner()

    listed = runner.invoke(args=["tasks", "list", "--status", "queued"])
    assert listed.exit_code == 0, listed.output
    assert first in listed.output and "1 of 1" in listed.output

    cancelled = runner.invoke(args=["tasks", "cancel", first])
    assert cancelled.exit_code == 0 and "stopped" in cancelled.output
    shown = json.loads(runner.invoke(args=["tasks", "show", first]).output)
    assert shown["status"] == "stopped"

    container.huey.immediate = True  # the retry's message now runs at once
    retried = runner.invoke(args=["tasks", "retry", first])
    assert retried.exit_code == 0, retried.output
    assert container.runs.load(first).status == "succeeded"

    overview = json.loads(runner.invoke(args=["tasks", "overview"]).output)
    assert overview["runs_by_status"]["succeeded"] == 1
    assert runner.invoke(args=["tasks", "show", "nope"]).exit_code != 0


def test_tasks_cli_pauses_purges_resumes_and_lists_workers(flask_app, container):
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    who = AppPrincipal(workspace, app.id, "k")
    runner = flask_app.test_cli_runner()

    paused = runner.invoke(args=["tasks", "pause", "runs"])
    assert paused.exit_code == 0, paused.output
    assert json.loads(paused.output)["paused"] is True and json.loads(paused.output)["paused_by"] == "cli"
    revoked, purged = (container.runs.submit(who, {"name": n}, "u", "streaming").run_id for n in ("Ada", "Bob"))
    assert {container.runs.load(r).status for r in (revoked, purged)} == {"queued"}  # immediate Huey, paused queue
    overview = json.loads(runner.invoke(args=["tasks", "overview"]).output)
    assert overview["paused"]["runs"]["paused"] is True

    assert runner.invoke(args=["tasks", "purge"], input="n\n").exit_code != 0  # asks first; "no" aborts
    assert container.runs.load(purged).status == "queued"
    assert runner.invoke(args=["tasks", "cancel", revoked]).exit_code == 0  # revoke one; purge takes the other
    out = runner.invoke(args=["tasks", "purge", "--yes"])
    assert out.exit_code == 0 and "1 queued runs stopped" in out.output, out.output
    assert container.runs.load(purged).status == "stopped" and container.runs.load(revoked).status == "stopped"
    assert container.runs.load(purged).error == "Run purged from the queue by an operator"

    third = container.runs.submit(who, {"name": "Cy"}, "u", "streaming").run_id
    resumed = runner.invoke(args=["tasks", "resume", "runs"])
    assert resumed.exit_code == 0 and json.loads(resumed.output)["requeued"] == 1
    assert container.runs.load(third).status == "succeeded"
    assert runner.invoke(args=["tasks", "pause", "emails"]).exit_code == 2  # click refuses an unknown queue

    container.ops.workers.beat("host-a:7:abcdef", threads=4, busy=1)
    workers = runner.invoke(args=["tasks", "workers"])
    assert workers.exit_code == 0
    lines = workers.output.splitlines()
    assert lines[0].split() == ["ID", "STATE", "THREADS", "BUSY", "LAST", "HEARTBEAT"]
    assert lines[1].split()[:4] == ["host-a:7:abcdef", "alive", "4", "1"] and lines[1].endswith("s ago")

    records, _ = container.ops.audit.query(workspace, AuditFilter(method="CLI"), 1, 50)
    assert sorted((r["endpoint"], r["status"]) for r in records) == [
        ("tasks cancel", 200), ("tasks pause", 200), ("tasks purge", 200), ("tasks resume", 200)]
    assert {r["actor_type"] for r in records} == {"cli"}

