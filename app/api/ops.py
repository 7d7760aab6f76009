"""Operational endpoints: `/health` (the process serves), `/ready` (database and queue reachable) and
Prometheus `/metrics` (multi-process aware under gunicorn)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from app.api import container
from app.metrics import exposition

ops = Blueprint("ops", __name__)


@ops.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@ops.get("/ready")
def ready() -> tuple[Response, int]:
    c = container()
    checks = {"database": c.database_ok(), "queue": c.queue.ping()}
    ok = all(checks.values())
    response = jsonify({"ready": ok, **checks})
    if not ok:
        response.headers["Retry-After"] = "5"
    return response, 200 if ok else 503


@ops.get("/metrics")
def metrics() -> Response:
    # Aggregates every gunicorn worker's samples in multi-process mode; queue depth is read at scrape time.
    ops_services = container().ops
    probe = ops_services.console.probe if ops_services else None
    return Response(exposition(probe), content_type=CONTENT_TYPE_LATEST)
