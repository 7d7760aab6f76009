"""Request-scoped operations hooks: the request id (`X-Request-Id`, accepted when well-formed, else made up,
always returned), the log context, HTTP metrics by route template, the audit record of every Service API and
management call, and the budget gate in front of run submission (429 `quota_exceeded`)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from app.api import container
from app.api.auth import app_key
from app.logs import clear_context, set_context
from app.metrics import metrics
from app.services.accounts import AdminPrincipal, AppPrincipal
from app.services.audit import AuditEntry

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
AUDITED_BLUEPRINTS = frozenset({"service", "manage", "manage_tools", "operations", "console"})
# Endpoints that start a run: refused with 429 once the app's monthly budget is spent.
BUDGETED_ENDPOINTS = frozenset({"service.run_workflow", "service.chat_messages", "service.completion_messages"})


def register_observability(app: Flask) -> None:
    settings = container_settings(app)
    # The metric children per (method, route, status): `labels()` validates and locks on every call (issue 18).
    # Bounded like the metric itself: routes are templates, not paths.
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @app.before_request
    def _start() -> None:
        clear_context()  # gthread reuses threads: never inherit the previous request's fields
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        set_context(request_id=g.request_id)

    @app.before_request
    def _budget_gate() -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit and (request.content_length or 0) > limit:
            return  # the size check (registered after this hook) answers 413 before any auth
        if request.endpoint in BUDGETED_ENDPOINTS and request.method == "POST":
            ops = container().ops
            if ops is not None:
                # Authenticated here without the rate limiter: the view is the one that consumes the key's
                # rate-limit token (and reuses this lookup).
                ops.budgets.check(app_key().app_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        if settings["metrics"]:
            key = (request.method, route, response.status_code)
            pair = children.get(key)
            if pair is None:
                m = metrics()
                pair = children[key] = (m.http_requests.labels(key[0], route, str(key[2])),
                                        m.http_latency.labels(key[0], route))
            pair[0].inc()
            pair[1].observe(elapsed)
        if settings["audit"] and request.blueprint in AUDITED_BLUEPRINTS:
            _audit(route, response.status_code, elapsed)
        return response

    @app.teardown_request
    def _clear(_exc: BaseException | None) -> None:
        clear_context()


def container_settings(app: Flask) -> dict[str, bool]:
    s = app.extensions["trellis"].settings
    return {"metrics": s.metrics_enabled, "audit": s.audit_enabled}


def _audit(route: str, status: int, elapsed: float) -> None:
    ops = container().ops
    if ops is None:
        return
    who = g.get("principal")
    common = {"method": request.method, "endpoint": route, "path": request.path[:512], "status": status,
              "latency_ms": elapsed * 1000, "request_id": g.get("request_id")}
    if isinstance(who, AppPrincipal):
        entry = AuditEntry(**common, actor_type="app_key", actor_id=who.key_id, workspace_id=who.workspace_id,
                           app_id=who.app_id)
    elif isinstance(who, AdminPrincipal):
        entry = AuditEntry(**common, actor_type="admin_token", actor_id=who.token_id,
                           workspace_id=who.workspace_id, app_id=(request.view_args or {}).get("app_id"))
    else:
        entry = AuditEntry(**common, app_id=(request.view_args or {}).get("app_id"))
    ops.audit.record(entry)
