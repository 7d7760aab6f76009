"""The worker's small HTTP port: `/health` (the process serves), `/ready` (database and queue reachable) and
`/metrics` (Prometheus), for Kubernetes probes and scraping."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def _handler(ready: Callable[[], dict[str, bool]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self._send(200, "application/json", json.dumps({"status": "ok"}).encode())
            elif self.path == "/ready":
                checks = ready()
                status = 200 if all(checks.values()) else 503
                self._send(status, "application/json", json.dumps({"ready": status == 200, **checks}).encode())
            elif self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest())
            else:
                self._send(404, "application/json", b'{"code":"not_found","message":"Not Found","status":404}')

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: keep logs quiet
            return

    return Handler


def start_health_server(host: str, port: int, ready: Callable[[], dict[str, bool]]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler(ready))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
