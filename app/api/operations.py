"""Operations endpoints of the management API (`/manage/v1`, admin token): the audit trail and a run's call
chain, usage and cost reports, per-app budgets (`PATCH /apps/{id}`), and the task console's JSON and actions
(on runs; on queues: pause, resume, purge; the worker list). Every call here is itself audited (blueprint
`operations`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import container
from app.api.auth import admin_principal, operator_principal
from app.api.schemas import parse_time
from app.errors import InvalidParam
from app.services.audit import AuditFilter
from app.services.budgets import UNSET, month_start, parse_cost
from app.services.operations import Operations
from app.services.queues import check_queue
from app.services.run_graph import RunGraphs
from app.services.runs import parse_page
from app.services.usage import GroupBy, UsageQuery

operations = Blueprint("operations", __name__)


def ops() -> Operations:
    found = container().ops
    assert found is not None, "operations services are built by app.wiring.build"
    return found




def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidParam(f"{name} must be an integer", params=name) from exc


# -- audit ----------------------------------------------------------------------------------------------------

@operations.get("/audit")
def audit() -> Response:
    """Filters: from, to, actor_id, app_id, endpoint (route template), method, status (e.g. 404 or 4xx)."""
    who = admin_principal()
    page, limit = parse_page(request.args, default_limit=50, max_limit=500)
    status = request.args.get("status") or ""
    status_class = None
    if len(status) == 3 and status.endswith("xx") and status[0] in "12345":
        status_class, status = int(status[0]), ""
    flt = AuditFilter(created_after=parse_time("from"), created_before=parse_time("to", end=True),
                      actor_id=request.args.get("actor_id") or None, app_id=request.args.get("app_id") or None,
                      endpoint=request.args.get("endpoint") or None, method=request.args.get("method") or None,
                      status=int(status) if status.isdigit() else None, status_class=status_class)
    if status and not status.isdigit():
        raise InvalidParam("status must be a code (404) or a class (4xx)", params="status")
    rows, total = ops().audit.query(who.workspace_id, flt, page, limit)
    return jsonify({"page": page, "limit": limit, "total": total, "has_more": page * limit < total, "data": rows})


@operations.get("/audit/runs/<run_id>")
def run_chain(run_id: str) -> Response:
    who = admin_principal()
    return jsonify(ops().audit.call_chain(who.workspace_id, run_id, container().settings.audit_field_limit))


@operations.get("/runs/<run_id>/node-executions")
def run_node_executions(run_id: str) -> Response:
    """The run page's data: the workflow's nodes at their DSL positions with this run's executions (issue 17)."""
    who = admin_principal()
    limit = container().settings.audit_field_limit
    return jsonify(RunGraphs(container().sessions, container().events).view(who.workspace_id, run_id, limit))


# -- usage and budgets ------------------------------------------------------------------------------------------

@operations.get("/usage")
def usage() -> Response:
    """`group_by=app|model|day|month`, `from`/`to` (default: this month so far)."""
    who = admin_principal()
    try:
        group_by = GroupBy(request.args.get("group_by", "app"))
    except ValueError as exc:
        raise InvalidParam("group_by must be one of app, model, day, month", params="group_by") from exc
    now = datetime.now(UTC)
    start = parse_time("from") or month_start(now)
    end = parse_time("to", end=True) or now + timedelta(seconds=1)
    if end <= start:
        raise InvalidParam("to must be after from", params="to")
    return jsonify(ops().usage.report(UsageQuery(who.workspace_id, group_by, start, end)))


@operations.patch("/apps/<app_id>")
def update_app_settings(app_id: str) -> Response:
    """Operations settings of an app: `monthly_token_budget` (int) and `monthly_cost_budget` (amount in the
    price table's currency); a key set to null removes that cap, an absent key keeps it."""
    who = admin_principal()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidParam("body must be a JSON object")
    known = {"monthly_token_budget", "monthly_cost_budget"}
    if not known & set(body) or set(body) - known:
        raise InvalidParam("body may contain monthly_token_budget and monthly_cost_budget only")
    tokens: Any = body.get("monthly_token_budget", UNSET)
    if isinstance(tokens, bool):
        raise InvalidParam("monthly_token_budget must be an integer", params="monthly_token_budget")
    cost = parse_cost(body["monthly_cost_budget"]) if "monthly_cost_budget" in body else UNSET
    budget = ops().budgets.set(who.workspace_id, app_id, tokens, cost)
    app = container().apps.get(who.workspace_id, app_id).to_dict()
    return jsonify({**app, "budget": budget})


@operations.get("/apps/<app_id>/budget")
def get_budget(app_id: str) -> Response:
    who = admin_principal()
    container().apps.get(who.workspace_id, app_id)  # 404 unless the app is this workspace's
    return jsonify(ops().budgets.view(app_id))


# -- task console -----------------------------------------------------------------------------------------------

@operations.get("/tasks")
def tasks_overview() -> Response:
    who = admin_principal()
    return jsonify(ops().console.overview(who.workspace_id, operator=who.operator))


@operations.get("/tasks/runs")
def tasks_runs() -> Response:
    """`status` (a run status or `stuck`), `app_id`, paging."""
    who = admin_principal()
    page, limit = parse_page(request.args, default_limit=50, max_limit=500)
    rows, total = ops().console.runs(who.workspace_id, request.args.get("status") or None,
                                     request.args.get("app_id") or None, page, limit)
    return jsonify({"page": page, "limit": limit, "total": total, "has_more": page * limit < total, "data": rows})


@operations.post("/tasks/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> Response:
    return jsonify(ops().console.cancel(admin_principal().workspace_id, run_id))


@operations.post("/tasks/runs/<run_id>/retry")
def retry_run(run_id: str) -> Response:
    """Body (optional): `{"from_scratch": true}` to discard the run's checkpoints."""
    who = admin_principal()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):  # e.g. a bare JSON string: was an AttributeError (500), found by fuzzing
        raise InvalidParam("body must be a JSON object")
    return jsonify(ops().console.retry(who.workspace_id, run_id, from_scratch=bool(body.get("from_scratch"))))


@operations.post("/tasks/runs/<run_id>/requeue")
def requeue_run(run_id: str) -> Response:
    return jsonify(ops().console.requeue(admin_principal().workspace_id, run_id))


@operations.post("/tasks/queues/<queue>/pause")
def pause_queue(queue: str) -> Response:
    """`queue` is `runs` or `indexing`: workers start nothing new from it; what waits stays queued. The queues
    are shared by every workspace, so only the operator may pause or resume them."""
    who = operator_principal()
    return jsonify(ops().queues.pause(queue, actor=who.token_id))


@operations.post("/tasks/queues/<queue>/resume")
def resume_queue(queue: str) -> Response:
    operator_principal()
    return jsonify(ops().queues.resume(queue))


@operations.post("/tasks/queues/<queue>/purge")
def purge_queue(queue: str) -> Response:
    """Stop this workspace's queued runs (body, optional: `{"app_id": ...}` for one app's). Only `runs`."""
    who = admin_principal()
    if check_queue(queue) != "runs":
        raise InvalidParam("only the runs queue can be purged", params="queue")
    body = request.get_json(silent=True) or {}
    app_id = body.get("app_id") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(app_id, str | None):
        raise InvalidParam("body must be a JSON object with an optional string app_id")
    return jsonify(ops().console.purge(who.workspace_id, app_id or None))


@operations.get("/tasks/workers")
def list_workers() -> Response:
    operator_principal()
    return jsonify({"data": ops().workers.list()})
