"""The egress proxy plugin processes talk to the network through (HTTP CONNECT and absolute-form HTTP).

Plugin children get `HTTP(S)_PROXY` pointing here, and where the kernel has Landlock they can open TCP connections
to this port only (see `plugin_launcher`). Each tunnel's target goes through the egress guard's `vet` (the same
policy, resolver and refusal reasons as every other user-directed request) and the proxy connects to the vetted
address itself, so a plugin reaches what a workflow's HTTP node may reach and nothing else. Bytes are relayed
as they are; TLS stays end to end between the plugin and its server. Listens on loopback only.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading

from app.errors import TrellisError
from app.providers.egress import GuardedBackend

HEADER_LIMIT = 64 * 1024
IDLE_SECONDS = 300.0
CONNECT_SECONDS = 10.0


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(CONNECT_SECONDS)
        head = _read_head(client)
        if head is None:
            return
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = line.decode("latin-1").split(" ", 2)
        except ValueError:
            return _reply(client, 400, "malformed request line")
        try:
            host, port, forward = _target(method, target, version, rest)
        except ValueError:
            host, port, forward = None, 0, None
        if host is None:
            return _reply(client, 400, "only CONNECT and absolute http:// requests are proxied")
        try:
            upstream = self._connect(host, port)
        except TrellisError as exc:
            self.server.refusals += 1
            return _reply(client, 403, exc.message)
        except OSError as exc:
            return _reply(client, 502, f"cannot reach {host}:{port}: {exc.strerror or exc}")
        with upstream:
            if forward is None:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                forward = head.partition(b"\r\n\r\n")[2]  # bytes the client sent right behind its CONNECT
            if forward:
                upstream.sendall(forward)
            _relay(client, upstream)

    def _connect(self, host: str, port: int) -> socket.socket:
        addresses = self.server.guard.vet(host, port, CONNECT_SECONDS)
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), CONNECT_SECONDS)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last


def _read_head(client: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = client.recv(4096)
        except OSError:
            return None
        if not chunk or len(data) > HEADER_LIMIT:
            return None
        data += chunk
    return data


def _target(method: str, target: str, version: str, rest: bytes) -> tuple[str | None, int, bytes | None]:
    """(host, port, bytes to forward first); forward is None for a CONNECT tunnel."""
    if method.upper() == "CONNECT":
        name, _, port_text = target.rpartition(":")
        return (name.strip("[]") or None), int(port_text or 443), None
    if not target.lower().startswith("http://"):
        return None, 0, None
    authority, _, path = target[7:].partition("/")
    authority = authority.rsplit("@", 1)[-1]
    host, port = authority, 80
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else 80
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
        port = int(port_text)
    request_line = f"{method} /{path} {version}\r\n".encode("latin-1")
    return host, port, request_line + rest


def _reply(client: socket.socket, status: int, reason: str) -> None:
    body = reason.encode()
    with contextlib.suppress(OSError):
        client.sendall(f"HTTP/1.1 {status} Refused\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                       "Connection: close\r\n\r\n".encode() + body)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides finished sending (a half-close is passed on) or nothing moves for
    IDLE_SECONDS."""
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as sel:
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        while sel.get_map():
            events = sel.select(IDLE_SECONDS)
            if not events:
                return
            for key, _ in events:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = source.recv(65536)
                    if chunk:
                        peers[source].sendall(chunk)
                        continue
                    sel.unregister(source)
                    peers[source].shutdown(socket.SHUT_WR)
                except OSError:
                    return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, guard: GuardedBackend) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.guard = guard
        self.refusals = 0


class EgressProxy:
    """One per process, shared by every plugin child. Binds and serves on `start` (idempotent); `close` stops."""

    def __init__(self, guard: GuardedBackend) -> None:
        self._guard = guard
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the proxy first"
        return int(self._server.server_address[1])

    @property
    def refusals(self) -> int:
        return self._server.refusals if self._server else 0

    def start(self) -> EgressProxy:
        with self._lock:
            if self._server is None:
                self._server = _Server(self._guard)
                self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                                name="plugin-egress-proxy", daemon=True)
                self._thread.start()
        return self

    def env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.port}"
        return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "ALL_PROXY": url, "http_proxy": url, "https_proxy": url,
                "all_proxy": url, "NO_PROXY": "", "no_proxy": ""}

    def close(self) -> None:
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            if thread is not None:
                thread.join(5)
            server.server_close()
