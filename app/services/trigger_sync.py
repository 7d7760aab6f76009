"""Writes an app's trigger rows (`app_triggers`) to match its newly published version, inside the import
transaction: a `trigger-schedule` start gets a schedule with its next firing time, a `trigger-webhook` start an
unguessable webhook id (kept across re-imports, so its URL stays valid); triggers of removed nodes go. Also the
cron arithmetic (croniter) the scheduler shares."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.engine.graph import Graph
from app.engine.nodes.trigger import TriggerScheduleNode, TriggerWebhookNode
from app.errors import InvalidParam
from app.models.base import utcnow
from app.models.triggers import AppTrigger


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after `after` (UTC) that `cron` matches in `timezone`, as UTC."""
    local = after.astimezone(ZoneInfo(timezone))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


def _check_schedule(node: TriggerScheduleNode) -> tuple[str, str]:
    cron = node.cron()
    if not croniter.is_valid(cron):
        raise InvalidParam(f"node {node.id}: {cron!r} is not a valid cron expression", params=node.id)
    try:
        ZoneInfo(node.data.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidParam(f"node {node.id}: unknown time zone {node.data.timezone!r}", params=node.id) from exc
    return cron, node.data.timezone or "UTC"


def sync(session: Session, workspace_id: str, app_id: str, graph: Graph, now: datetime | None = None) -> None:
    """Make the app's trigger rows match `graph` (its newly published version). Raises InvalidParam for a bad
    cron expression or time zone, which rolls the import back."""
    now = now or utcnow()
    existing = {(row.node_id, row.kind): row for row in session.scalars(
        select(AppTrigger).where(AppTrigger.app_id == app_id))}
    wanted: set[tuple[str, str]] = set()
    start = graph.nodes[graph.start_id]
    if isinstance(start, TriggerScheduleNode):
        cron, timezone = _check_schedule(start)
        wanted.add((start.id, "schedule"))
        row = existing.get((start.id, "schedule"))
        if row is None:
            row = AppTrigger(id=secrets.token_hex(16), app_id=app_id, workspace_id=workspace_id, node_id=start.id,
                             kind="schedule", config={})
            session.add(row)
        if row.cron != cron or row.timezone != timezone or row.next_fire_at is None:
            row.next_fire_at = next_fire(cron, timezone, now)
        row.cron, row.timezone = cron, timezone
    elif isinstance(start, TriggerWebhookNode):
        wanted.add((start.id, "webhook"))
        row = existing.get((start.id, "webhook"))
        if row is None:
            # The id is the URL's only secret: 192 random bits.
            session.add(AppTrigger(id=secrets.token_urlsafe(24), app_id=app_id, workspace_id=workspace_id,
                                   node_id=start.id, kind="webhook", config={}))
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
