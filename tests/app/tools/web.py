"""A scripted local HTTP server standing in for the web services tools call (Tavily, Jina, Wikipedia, an
OpenAPI server...): answers each path with a canned reply or a function of the request, and records requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from app.providers.egress import EgressClient, EgressPolicy
from app.tools.provider import ProviderContext


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, str, bytes]


@dataclass
class Web:
    server: ThreadingHTTPServer
    routes: dict[str, Reply | Callable[[Request], Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json_route(self, path: str, data: Any, status: int = 200) -> None:
        self.routes[path] = (status, "application/json", json.dumps(data).encode())

    def context(self, *provider_ids: str, files: Any = None) -> ProviderContext:
        """A provider context whose egress client may reach this server (and nothing private besides), with the
        named built-ins pointed at it."""
        return ProviderContext(http=EgressClient(EgressPolicy.parse("127.0.0.1/32")), timeout_seconds=5.0,
                               endpoints={name: self.url for name in provider_ids}, workspace_id="ws",
                               files=files)


@contextmanager
def serve() -> Iterator[Web]:
    web: Web

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Request(self.command, unquote(parts.path), parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length) if length else b"")
            web.requests.append(request)
            route = web.routes.get(request.path) or next(
                (r for p, r in web.routes.items() if p.endswith("*") and request.path.startswith(p[:-1])), None)
            status, kind, body = (route(request) if callable(route) else route) if route else (
                404, "text/plain", b"no route")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    web = Web(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        server.shutdown()
        server.server_close()
