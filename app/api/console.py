"""The web task console (`/manage/console`): server-rendered pages over the task-console and usage services.

Login posts an admin token once; it is kept in an HttpOnly, SameSite=Strict cookie scoped to this path (an
`Authorization: Bearer` header works too, for scripts). Actions are POST forms; a cross-site POST is refused
by the cookie policy and by an Origin check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.api import container
from app.api.auth import note_auth_failure, refuse_blocked_client
from app.api.operations import ops
from app.errors import Forbidden, TrellisError, Unauthorized
from app.services.accounts import AdminPrincipal
from app.services.budgets import month_start
from app.services.usage import GroupBy, UsageQuery

console = Blueprint("console", __name__, template_folder="templates")
COOKIE = "trellis_admin"
STATUSES = ("", "queued", "running", "succeeded", "failed", "stopped", "partial-succeeded", "stuck")


def _principal() -> AdminPrincipal | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    if not token:
        return None
    refuse_blocked_client()
    try:
        who = container().accounts.authenticate_admin(token)
    except Unauthorized:
        note_auth_failure()
        return None
    g.principal = who
    return who


def _same_origin() -> None:
    origin = request.headers.get("Origin")
    if origin and urlparse(origin).netloc != request.host:
        raise Forbidden("Cross-origin form posts are refused")


@console.get("/")
def index() -> str | BaseResponse:
    who = _principal()
    if who is None:
        return render_template("console_login.html", error=request.args.get("error"))
    status = request.args.get("status", "")
    app_id = request.args.get("app_id", "")
    overview = ops().console.overview(who.workspace_id)
    runs, total = ops().console.runs(who.workspace_id, status or None, app_id or None, 1, 50)
    now = datetime.now(UTC)
    usage = ops().usage.report(UsageQuery(who.workspace_id, GroupBy.app, month_start(now), now + timedelta(seconds=1)))
    peak = max((float(row["total_price"]) for row in usage["data"]), default=0.0) or 1.0
    return render_template("console.html", overview=overview, runs=runs, total=total, status=status, app_id=app_id,
                           statuses=STATUSES, usage=usage, peak=peak, month=now.strftime("%Y-%m"))


@console.get("/runs/<run_id>")
def run_page(run_id: str) -> str | BaseResponse:
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    chain = ops().audit.call_chain(who.workspace_id, run_id, container().settings.audit_field_limit)
    longest = max((n["elapsed_time"] for n in chain["nodes"]), default=0.0) or 1.0
    return render_template("console_run.html", run=chain, longest=longest)


@console.post("/login")
def login() -> BaseResponse:
    _same_origin()
    token = (request.form.get("token") or "").strip()
    refuse_blocked_client()
    try:
        container().accounts.authenticate_admin(token)
    except Unauthorized:
        note_auth_failure()
        return redirect(url_for("console.index", error="invalid token"))
    response = redirect(url_for("console.index"))
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure,
                        path=url_for("console.index"), max_age=8 * 3600)
    return response


@console.post("/logout")
def logout() -> BaseResponse:
    response = redirect(url_for("console.index"))
    response.delete_cookie(COOKIE, path=url_for("console.index"))
    return response


@console.post("/runs/<run_id>/<action>")
def run_action(run_id: str, action: str) -> BaseResponse | tuple[str, int]:
    _same_origin()
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    actions = {"cancel": lambda: ops().console.cancel(who.workspace_id, run_id),
               "retry": lambda: ops().console.retry(who.workspace_id, run_id,
                                                    from_scratch=request.form.get("from_scratch") == "1"),
               "requeue": lambda: ops().console.requeue(who.workspace_id, run_id)}
    if action not in actions:
        return render_template("console_message.html", message=f"Unknown action {action}"), 404
    try:
        actions[action]()
    except TrellisError as exc:
        return render_template("console_message.html", message=exc.message), exc.status
    target = request.form.get("next") or ""
    home = url_for("console.index")
    return redirect(target if target.startswith(home) and "//" not in target else home)
