"""Operational endpoints: `/health` (the process serves), `/ready` (database and queue reachable) and
Prometheus `/metrics` (multi-process aware under gunicorn)."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.api import container

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
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn every worker process writes its own files; aggregate them per scrape.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
