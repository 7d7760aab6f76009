"""`flask --app wsgi tasks ...`: the task console on the command line, over the run table and Huey's queue
(the same service as `/manage/v1/tasks`), for the default workspace. Every action (not the reads) is written
to the audit trail with actor type `cli`, as the API records an admin token's calls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import TrellisError
from app.services.audit import AuditEntry
from app.services.queues import QUEUES

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


def workers_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'ID':<48}  {'STATE':<5}  {'THREADS':>7}  {'BUSY':>4}  LAST HEARTBEAT"]
    for row in rows:
        state = "alive" if row["alive"] else "stale"
        lines.append(f"{row['id'][:48]:<48}  {state:<5}  {row['threads']:>7}  {row['busy']:>4}  "
                     f"{row['heartbeat_age']:.0f}s ago")
    return "\n".join(lines)


@contextmanager
def audited(container: Any, action: str, target: str = "") -> Iterator[None]:
    """Record a CLI action in the audit trail with its outcome (and flush: the process exits right after)."""
    started, status = time.perf_counter(), 200
    try:
        yield
    except TrellisError as exc:
        status = exc.status
        raise
    except Exception:  # the command's edge: recorded as a server error, then raised as it was
        status = 500
        raise
    finally:
        container.ops.audit.record(AuditEntry(
            method="CLI", endpoint=f"tasks {action}", path=f"tasks {action} {target}".strip()[:512], status=status,
            latency_ms=(time.perf_counter() - started) * 1000, actor_type="cli",
            workspace_id=container.accounts.default_workspace_id()))
        container.ops.audit.flush()


def register_tasks_cli(app: Flask, container: Any) -> None:
    group = AppGroup("tasks", help="The task console: queue, runs, retries, pauses, workers.")

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
        with audited(container, "retry", run_id):
            click.echo(table([console().retry(workspace(), run_id, from_scratch)]))

    @group.command("cancel")
    @click.argument("run_id")
    def cancel(run_id: str) -> None:
        """Revoke a queued run (its message then finds it stopped), or stop a running one at its next check."""
        with audited(container, "cancel", run_id):
            click.echo(table([console().cancel(workspace(), run_id)]))

    @group.command("requeue")
    @click.argument("run_id")
    def requeue(run_id: str) -> None:
        """Send a queued run's message again (duplicates are harmless: the lease decides)."""
        with audited(container, "requeue", run_id):
            click.echo(table([console().requeue(workspace(), run_id)]))

    register_queue_commands(group, container)
    app.cli.add_command(group)


def register_queue_commands(group: AppGroup, container: Any) -> None:
    """`tasks pause|resume QUEUE`, `tasks purge` and `tasks workers`."""

    @group.command("pause")
    @click.argument("queue", type=click.Choice(QUEUES))
    def pause(queue: str) -> None:
        """Start nothing new from QUEUE (deployment-wide); waiting runs or documents stay queued."""
        with audited(container, "pause", queue):
            click.echo(json.dumps(container.ops.queues.pause(queue, actor="cli"), default=str))

    @group.command("resume")
    @click.argument("queue", type=click.Choice(QUEUES))
    def resume(queue: str) -> None:
        """Start QUEUE again and send what waits in it back to the workers."""
        with audited(container, "resume", queue):
            click.echo(json.dumps(container.ops.queues.resume(queue), default=str))

    @group.command("purge")
    @click.option("--app", "app_id", default=None, help="Only this app's queued runs.")
    @click.confirmation_option(prompt="Stop every queued run?")
    def purge(app_id: str | None) -> None:
        """Stop the queued runs of the workspace (or of one app); running runs go on."""
        with audited(container, "purge", app_id or ""):
            result = container.ops.console.purge(container.accounts.default_workspace_id(), app_id)
        click.echo(f"{result['purged']} queued runs stopped")

    @group.command("workers")
    def workers() -> None:
        """Worker processes with their threads, runs held and last heartbeat (stale: no beat for a lease)."""
        click.echo(workers_table(container.ops.workers.list()))
