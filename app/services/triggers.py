"""Triggers: what starts an app's runs besides the API. A published workflow whose start is a
`trigger-schedule` node gets a schedule (cron in its time zone) that the workers' periodic task fires; one whose
start is a `trigger-webhook` node gets an unguessable webhook URL (`/triggers/webhook/<id>`, Dify's path). Each
firing is an ordinary run, submitted like an API call.

The rows are written by `trigger_sync` inside the import transaction. Firing a schedule claims it by moving
`next_fire_at` forward with a compare-and-set: any number of workers may run `fire_due` at once, and a schedule
fires once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.engine.nodes.trigger import TriggerWebhookNode
from app.errors import NotFound
from app.models.base import as_utc, utcnow
from app.models.triggers import AppTrigger
from app.services.accounts import AppPrincipal
from app.services.apps import Apps
from app.services.runs import Runs, Ticket
from app.services.trigger_sync import next_fire

log = logging.getLogger(__name__)

TRIGGER_USER = "trigger"


@dataclass(frozen=True)
class TriggerView:
    id: str
    app_id: str
    workspace_id: str
    node_id: str
    kind: str
    cron: str | None
    timezone: str | None
    next_fire_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "kind": self.kind, "node_id": self.node_id}
        if self.kind == "webhook":
            body["webhook_path"] = f"/triggers/webhook/{self.id}"
        else:
            body.update(cron=self.cron, timezone=self.timezone,
                        next_fire_at=int(self.next_fire_at.timestamp()) if self.next_fire_at else None)
        return body


def _view(row: AppTrigger) -> TriggerView:
    return TriggerView(row.id, row.app_id, row.workspace_id, row.node_id, row.kind, row.cron, row.timezone,
                       as_utc(row.next_fire_at))


class Triggers:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, runs: Runs) -> None:
        self._sessions = sessions
        self._apps = apps
        self._runs = runs

    def list(self, workspace_id: str, app_id: str) -> list[TriggerView]:
        with self._sessions() as session:
            rows = session.scalars(select(AppTrigger).where(AppTrigger.workspace_id == workspace_id,
                                                            AppTrigger.app_id == app_id))
            return [_view(row) for row in rows]

    def fire_webhook(self, webhook_id: str, method: str, query: dict[str, Any], headers: dict[str, str],
                     body: Any) -> tuple[Ticket, int, str]:
        """Start a run from one webhook call: (ticket, the node's status code, its response body). Raises
        NotFound for an unknown id, InvalidParam for a request the node does not accept."""
        with self._sessions() as session:
            row = session.get(AppTrigger, webhook_id)
            trigger = _view(row) if row is not None and row.kind == "webhook" else None
        if trigger is None:
            raise NotFound("Webhook not found")
        principal = AppPrincipal(trigger.workspace_id, trigger.app_id, f"webhook:{trigger.id[:6]}")
        node = self._apps.published(trigger.workspace_id, trigger.app_id).graph.nodes.get(trigger.node_id)
        if not isinstance(node, TriggerWebhookNode):
            raise NotFound("Webhook not found")
        inputs = node.inputs_from_request(method, query, headers, body)
        ticket = self._runs.submit(principal, inputs, TRIGGER_USER, "streaming")
        return ticket, node.data.status_code, node.data.response_body

    def fire_due(self, now: datetime | None = None) -> list[str]:
        """Fire every schedule due at `now`: claim it (move `next_fire_at` past now), then submit one run. A
        schedule that missed several times (no worker was up) fires once. Returns the run ids; a failing
        submission is logged and skipped, never raised (the next period tries again)."""
        now = now or utcnow()
        with self._sessions() as session:
            due = [_view(r) for r in session.scalars(select(AppTrigger).where(
                AppTrigger.kind == "schedule", AppTrigger.next_fire_at <= now))]
        fired: list[str] = []
        for trigger in due:
            if trigger.cron is None or trigger.next_fire_at is None:
                continue
            following = next_fire(trigger.cron, trigger.timezone or "UTC", now)
            with transaction(self._sessions) as session:
                claimed = session.execute(update(AppTrigger).where(
                    AppTrigger.id == trigger.id, AppTrigger.next_fire_at == trigger.next_fire_at)
                    .values(next_fire_at=following, last_fired_at=now)).rowcount
            if not claimed:
                continue  # another worker fired it
            inputs = {"scheduled_time": trigger.next_fire_at.isoformat(), "timezone": trigger.timezone}
            try:
                ticket = self._runs.submit(AppPrincipal(trigger.workspace_id, trigger.app_id, "schedule"),
                                           inputs, TRIGGER_USER, "streaming")
                fired.append(ticket.run_id)
            except Exception:  # one app's failure (deleted, over its cap) must not stop the others
                log.exception("scheduled run not submitted", extra={"app_id": trigger.app_id})
        return fired
