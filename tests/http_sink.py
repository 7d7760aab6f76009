"""A real local HTTP server for egress and http-request tests: records every request and answers by path.

`/status/<n>` answers with status n; `/redirect?to=<url>` redirects; `/big?n=<bytes>` sends n bytes;
`/effect` answers with the `status` of its JSON body; `/slow` waits longer than any test timeout; `/file` sends a
PNG-typed body; everything else echoes the request as JSON (method, path, query, headers, body)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    server: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sink() -> HttpSink:
    sink: HttpSink

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            sink.requests.append(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          body))
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path.startswith("/status/"):
                return self._send(int(parts.path.rsplit("/", 1)[1]), b'{"status": "set"}')
            if parts.path == "/effect":  # the crash-recovery bench's sink: answers with the status it is sent
                return self._send(int(json.loads(body or b"{}").get("status", 200)), b'{"applied": true}')
            if parts.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if parts.path == "/big":
                return self._send(200, b"x" * int(query["n"][0]), "text/plain")
            if parts.path == "/slow":
                time.sleep(3)
                return self._send(200, b"late", "text/plain")
            if parts.path == "/file":
                return self._send(200, b"\x89PNG fake", "image/png")
            echo: dict[str, Any] = {"method": self.command, "path": parts.path, "query": query,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body.decode(errors="replace")}
            return self._send(200, json.dumps(echo).encode())

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink = HttpSink(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink
