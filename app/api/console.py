"""The web task console (`/manage/console`): server-rendered pages over the task-console and usage services.

Pages: runs (filtered by status and app), the task queue (queue figures, stuck runs, recent failures, pending
messages), usage and cost per app for a chosen month, and a run's node timeline. Login posts an admin token
once; it is kept in an HttpOnly, SameSite=Strict cookie scoped to this path (an `Authorization: Bearer` header
works too, for scripts). Actions are POST forms; a cross-site POST is refused by the cookie policy and by an
Origin check. Errors raised here are shown as an HTML page (a person reads them), not as the API's JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlparse, urlsplit

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.api import container
from app.api.auth import note_auth_failure, refuse_blocked_client
from app.api.operations import ops
from app.errors import Forbidden, NotFound, TrellisError, Unauthorized
from app.services.accounts import AdminPrincipal
from app.services.budgets import month_start, next_month
from app.services.run_graph import RunGraphs
from app.services.usage import GroupBy, UsageQuery

console = Blueprint("console", __name__, template_folder="templates")
COOKIE = "trellis_admin"
STATUSES = ("", "queued", "running", "succeeded", "failed", "stopped", "partial-succeeded", "stuck")
NOTICES = {"cancel": "Cancel requested for run", "retry": "Queued again: run", "requeue": "Message sent again for run"}
RUN_ID = re.compile(r"^[0-9a-f-]{1,36}$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Inline styles only (the bars' widths); no script, no frames, forms post back here.
POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
          "base-uri 'none'")


@console.after_request
def _harden(response: BaseResponse) -> BaseResponse:
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"  # signed-out Back must not show an operator's pages
    return response


@console.errorhandler(TrellisError)
def _error_page(exc: TrellisError) -> tuple[str, int, dict[str, str]]:
    retry_after = exc.to_dict().get("retry_after")
    return (render_template("console_message.html", message=exc.message), exc.status,
            {"Retry-After": str(retry_after)} if retry_after is not None else {})


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


def _app_names(workspace_id: str) -> dict[str, str]:
    apps, _ = container().apps.list(workspace_id, 1, 500)
    return {a.id: a.name for a in apps}


def _notice() -> str | None:
    action, run_id = request.args.get("done", ""), request.args.get("run", "")
    if action not in NOTICES or not RUN_ID.match(run_id):
        return None
    return f"{NOTICES[action]} {run_id[:8]}."


def _page(template: str, **values: object) -> str:
    return render_template(template, notice=_notice(), signed_in=True, **values)


@console.get("/")
def index() -> str | BaseResponse:
    """The runs list; the sign-in form when there is no valid admin token."""
    who = _principal()
    if who is None:
        failed = request.args.get("error") is not None
        return render_template("console_login.html", failed=failed)
    status = request.args.get("status", "")
    app_id = request.args.get("app_id", "")
    runs, total = ops().console.runs(who.workspace_id, status or None, app_id or None, 1, 50)
    return _page("console.html", runs=runs, total=total, status=status, app_id=app_id, statuses=STATUSES,
                 apps=_app_names(who.workspace_id))


@console.get("/tasks")
def tasks() -> str | BaseResponse:
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    return _page("console_tasks.html", overview=ops().console.overview(who.workspace_id, operator=who.operator),
                 apps=_app_names(who.workspace_id))


def _month(text: str, now: datetime) -> tuple[datetime, str | None]:
    """The first instant of the month `text` (YYYY-MM), or this month and a complaint when it is not one."""
    found = MONTH.match(text)
    if found and 1 <= int(found[2]) <= 12 and int(found[1]) >= 1970:
        return datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC), None
    return month_start(now), (f"“{text}” is not a month like {now:%Y-%m}; showing this month." if text else None)


@console.get("/usage")
def usage() -> str | BaseResponse:
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    start, problem = _month(request.args.get("month", "").strip(), datetime.now(UTC))
    end = next_month(start)
    report = ops().usage.report(UsageQuery(who.workspace_id, GroupBy.app, start, end))
    peak = max((float(row["total_price"]) for row in report["data"]), default=0.0) or 1.0
    earlier = month_start(start - timedelta(days=1))
    return _page("console_usage.html", usage=report, peak=peak, month=f"{start:%Y-%m}", problem=problem,
                 earlier=f"{earlier:%Y-%m}", later=f"{end:%Y-%m}")


@console.get("/runs/<run_id>")
def run_page(run_id: str) -> str | BaseResponse:
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    limit = container().settings.audit_field_limit
    chain = ops().audit.call_chain(who.workspace_id, run_id, limit)
    longest = max((n["elapsed_time"] for n in chain["nodes"]), default=0.0) or 1.0
    graph = RunGraphs(container().sessions, container().events).view(who.workspace_id, run_id, limit)
    return _page("console_run.html", run=chain, longest=longest, graph=graph,
                 app_name=_app_names(who.workspace_id).get(chain["app_id"], chain["app_id"][:8]))


@console.post("/login")
def login() -> BaseResponse:
    _same_origin()
    token = (request.form.get("token") or "").strip()
    refuse_blocked_client()
    try:
        container().accounts.authenticate_admin(token)
    except Unauthorized:
        note_auth_failure()
        return redirect(url_for("console.index", error=1))
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
def run_action(run_id: str, action: str) -> BaseResponse:
    """Cancel, retry (from the last checkpoint, or `from_scratch=1`) or re-queue a run, then go back to the
    page the form was on (`next`, only a console path) with a notice naming the run."""
    _same_origin()
    who = _principal()
    if who is None:
        return redirect(url_for("console.index"))
    actions = {"cancel": lambda: ops().console.cancel(who.workspace_id, run_id),
               "retry": lambda: ops().console.retry(who.workspace_id, run_id,
                                                    from_scratch=request.form.get("from_scratch") == "1"),
               "requeue": lambda: ops().console.requeue(who.workspace_id, run_id)}
    if action not in actions:
        raise NotFound(f"Unknown action {action}")
    actions[action]()
    return redirect(_back_to(request.form.get("next") or "", action, run_id))


def _back_to(target: str, action: str, run_id: str) -> str:
    home = url_for("console.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(home) or "//" in target:
        parts = urlsplit(home)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("done", "run")]
    return f"{parts.path}?{urlencode([*query, ('done', action), ('run', run_id)])}"
