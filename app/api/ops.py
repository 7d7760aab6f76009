"""Operational endpoints: `/health` (the process serves), `/ready` (database and queue reachable) and
Prometheus `/metrics` (multi-process aware under gunicorn).

With ``METRICS_PORT`` set, `/ready` and `/metrics` answer only on a connection that arrived on that port
(the listening socket's port, never the Host header) and 404 elsewhere, like any unknown path."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from app.api import container
from app.metrics import exposition

ops = Blueprint("ops", __name__)


def _arrival_port() -> int | None:
    """The local port the request's connection arrived on: gunicorn's socket, else the WSGI server's port."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:  # gunicorn derives SERVER_PORT from the Host header, so ask the socket instead
        try:
            return int(sock.getsockname()[1])
        except (OSError, TypeError, ValueError, IndexError):
            return None
    port = str(request.environ.get("SERVER_PORT", ""))
    return int(port) if port.isdigit() else None


def _metrics_port_only() -> None:
    port = container().settings.metrics_port
    if port and _arrival_port() != port:
        abort(404)


@ops.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@ops.get("/ready")
def ready() -> tuple[Response, int]:
    _metrics_port_only()
    c = container()
    checks = {"database": c.database_ok(), "queue": c.queue.ping()}
    ok = all(checks.values())
    response = jsonify({"ready": ok, **checks})
    if not ok:
        response.headers["Retry-After"] = "5"
    return response, 200 if ok else 503


@ops.get("/metrics")
def metrics() -> Response:
    _metrics_port_only()
    # Aggregates every gunicorn worker's samples in multi-process mode; queue depth is read at scrape time.
    ops_services = container().ops
    probe = ops_services.console.probe if ops_services else None
    return Response(exposition(probe), content_type=CONTENT_TYPE_LATEST)
