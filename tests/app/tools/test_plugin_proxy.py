"""The egress proxy plugin children use: tunnels and forwards only to targets the egress guard admits."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from app.providers.egress import EgressPolicy, GuardedBackend
from app.tools.plugin_proxy import EgressProxy
from tests.http_sink import HttpSink, start_sink


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    server = start_sink()
    yield server
    server.close()


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_forwards_and_tunnels_to_admitted_targets(sink: HttpSink) -> None:
    proxy = EgressProxy(GuardedBackend(EgressPolicy.parse("127.0.0.1"))).start()
    try:
        forwarded = _exchange(proxy.port, f"GET {sink.url}/plain?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Connection: close\r\n\r\n".encode())
        assert forwarded.startswith(b"HTTP/1.0 200") and b'"path": "/plain"' in forwarded
        tunnel = _exchange(proxy.port, f"CONNECT 127.0.0.1:{sink.port} HTTP/1.1\r\n\r\n"
                                       "GET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert tunnel.startswith(b"HTTP/1.1 200 Connection established") and b'"path": "/tunnelled"' in tunnel
        assert [r.path for r in sink.requests] == ["/plain?x=1", "/tunnelled"]
    finally:
        proxy.close()


def test_refuses_what_the_guard_refuses(sink: HttpSink) -> None:
    proxy = EgressProxy(GuardedBackend(EgressPolicy())).start()
    try:
        for request in (f"CONNECT 127.0.0.1:{sink.port} HTTP/1.1\r\n\r\n",
                        "CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n",
                        f"GET http://[::ffff:127.0.0.1]:{sink.port}/ HTTP/1.1\r\n\r\n"):
            answer = _exchange(proxy.port, request.encode())
            assert answer.startswith(b"HTTP/1.1 403") and b"not a public address" in answer
        assert _exchange(proxy.port, b"CONNECT nonsense:port HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert _exchange(proxy.port, b"GET /relative HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert proxy.refusals == 3 and sink.requests == []
    finally:
        proxy.close()
