from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stack import free_port
from tests.app.tools.web import Web, serve

MCP_SERVER = Path(__file__).resolve().parents[2] / "fixtures" / "mcp_server.py"
MCP_PATHS = {"streamable_http": ("streamable-http", "/mcp"), "sse": ("sse", "/sse")}


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        yield server


def _wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MCP server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("MCP server did not start")


@pytest.fixture(scope="module")
def mcp_servers() -> Iterator[dict[str, str]]:
    """The fixture MCP server (tests/fixtures/mcp_server.py) in child processes, one per transport: transport ->
    URL."""
    urls, procs = {}, []
    try:
        for transport, (arg, path) in MCP_PATHS.items():
            port = free_port()
            proc = subprocess.Popen([sys.executable, str(MCP_SERVER), arg, str(port)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            procs.append(proc)
            _wait_port(port, proc)
            urls[transport] = f"http://127.0.0.1:{port}{path}"
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
