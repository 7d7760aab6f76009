"""`flask tasks`: list, show, retry and cancel runs through the CLI, on the real services."""

from __future__ import annotations

import json

from app.services.accounts import AppPrincipal
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
