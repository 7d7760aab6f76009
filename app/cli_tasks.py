"""`flask --app wsgi tasks ...`: the task console on the command line, over the run table and Huey's queue
(the same service as `/manage/v1/tasks`), for the default workspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

COLUMNS = (("id", 36), ("status", 10), ("attempts", 8), ("lease_owner", 28), ("age", 8), ("error", 40))


def _age(row: dict[str, Any]) -> str:
    created = row.get("created_at")
    if not created:
        return "-"
    seconds = datetime.now(UTC).timestamp() - created
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"


def table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width columns: id, status, attempts, lease owner, age and the start of the error."""
    lines = ["  ".join(name.upper().ljust(width) for name, width in COLUMNS)]
    for row in rows:
        cells = {**row, "age": _age(row), "attempts": str(row.get("attempts", "")),
                 "lease_owner": row.get("lease_owner") or "-", "error": (row.get("error") or "").replace("\n", " ")}
        lines.append("  ".join(str(cells.get(name, ""))[:width].ljust(width) for name, width in COLUMNS))
    return "\n".join(lines)


def register_tasks_cli(app: Flask, container: Any) -> None:
    group = AppGroup("tasks", help="The task console: queue, runs, retries.")

    def console() -> Any:
        return container.ops.console

    def workspace() -> str:
        return str(container.accounts.default_workspace_id())

    @group.command("overview")
    def overview() -> None:
        """Queue depth, runs by status, waits, error rate, stuck runs and workers holding leases (JSON)."""
        click.echo(json.dumps(console().overview(workspace()), indent=2, default=str))

    @group.command("list")
    @click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed", "stopped", "stuck"]))
    @click.option("--app", "app_id", default=None, help="Only this app's runs.")
    @click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
    def list_runs(status: str | None, app_id: str | None, limit: int) -> None:
        """Runs, newest first, with lease owner and age."""
        rows, total = console().runs(workspace(), status, app_id, 1, limit)
        click.echo(table(rows))
        click.echo(f"{len(rows)} of {total}")

    @group.command("pending")
    def pending() -> None:
        """Messages waiting in the Huey queue."""
        for task in console().pending_tasks():
            click.echo(f"{task['id']}  {task['name']}  {task['args']}")

    @group.command("show")
    @click.argument("run_id")
    def show(run_id: str) -> None:
        click.echo(json.dumps(console().get(workspace(), run_id), indent=2, default=str))

    @group.command("retry")
    @click.argument("run_id")
    @click.option("--from-scratch", is_flag=True, help="Drop its checkpoints and run every node again.")
    def retry(run_id: str, from_scratch: bool) -> None:
        """Queue a failed or stopped run again (from its last checkpoint unless --from-scratch)."""
        click.echo(table([console().retry(workspace(), run_id, from_scratch)]))

    @group.command("cancel")
    @click.argument("run_id")
    def cancel(run_id: str) -> None:
        click.echo(table([console().cancel(workspace(), run_id)]))

    @group.command("requeue")
    @click.argument("run_id")
    def requeue(run_id: str) -> None:
        """Send a queued run's message again (duplicates are harmless: the lease decides)."""
        click.echo(table([console().requeue(workspace(), run_id)]))

    app.cli.add_command(group)
