"""Code nodes' `requests` and `httpx` (Dify's sandbox ships both) and standard-library packages inside the
confined child: HTTP goes through the parent's egress guard over the inherited relay descriptor, never through a
socket of the child's own, so the guard's rules hold (a local HTTP server stands in for the web)."""

from __future__ import annotations

import json
import time

import pytest

from app.errors import WorkflowError
from app.providers.egress import EgressClient, EgressPolicy
from app.providers.sandbox import ProcessSandbox, SandboxLimits

LIMITS = SandboxLimits(wall_seconds=10.0, cpu_seconds=5, memory_mb=256)


@pytest.fixture(scope="module")
def allowed() -> ProcessSandbox:
    return ProcessSandbox(LIMITS, http=EgressClient(EgressPolicy.parse("127.0.0.1")))


@pytest.fixture(scope="module")
def guarded() -> ProcessSandbox:
    return ProcessSandbox(LIMITS, http=EgressClient(EgressPolicy.parse("")))


def fails(sandbox: ProcessSandbox, code: str, inputs: dict | None = None) -> str:
    with pytest.raises(WorkflowError) as info:
        sandbox.run("python3", code, inputs or {})
    return info.value.message


def test_requests_posts_through_the_relay(allowed, sink):
    code = ("import requests\n"
            "def main(url):\n"
            "    r = requests.post(url + '/echo?q=1', json={'a': 1}, headers={'X-Key': 'k'}, timeout=5)\n"
            "    r.raise_for_status()\n"
            "    return {'status': r.status_code, 'body': r.json()}\n")
    out = allowed.run("python3", code, {"url": sink.url})
    assert out["status"] == 200
    assert out["body"]["method"] == "POST" and out["body"]["query"] == {"q": ["1"]}
    assert json.loads(out["body"]["body"]) == {"a": 1} and out["body"]["headers"]["x-key"] == "k"


def test_httpx_follows_redirects_hop_by_hop(allowed, sink):
    code = ("import httpx\n"
            "def main(url):\n"
            "    with httpx.Client(timeout=5, follow_redirects=True) as c:\n"
            "        r = c.get(url + '/redirect', params={'to': url + '/landed'})\n"
            "    return {'status': r.status_code, 'path': r.json()['path'], 'hops': len(r.history)}\n")
    assert allowed.run("python3", code, {"url": sink.url}) == {"status": 200, "path": "/landed", "hops": 1}


def test_the_egress_guard_applies_to_code(guarded, sink):
    for library in ("requests", "httpx"):
        code = f"import {library}\ndef main(url):\n    return {{'t': {library}.get(url).text}}\n"
        message = fails(guarded, code, {"url": sink.url})
        assert "refused" in message and "not a public address" in message
    # A redirect to a private address is refused at that hop, too.
    allowed_public = ProcessSandbox(LIMITS, http=EgressClient(EgressPolicy.parse("127.0.0.1")))
    code = ("import requests\ndef main(url):\n"
            "    return {'t': requests.get(url + '/redirect', params={'to': 'http://10.0.0.1/'}, timeout=2).text}\n")
    assert "refused" in fails(allowed_public, code, {"url": sink.url})


def test_without_an_egress_client_http_fails_clearly():
    box = ProcessSandbox(LIMITS)
    message = fails(box, "import requests\ndef main():\n    return {'t': requests.get('https://example.com').text}\n")
    assert "not configured" in message


def test_raw_sockets_stay_closed_even_with_the_relay(allowed, sink):
    code = ("import socket\ndef main(p):\n    socket.create_connection(('127.0.0.1', int(p)), timeout=2)\n"
            "    return {}\n")
    assert "not allowed" in fails(allowed, code, {"p": sink.port})


@pytest.mark.parametrize("module", ["urllib.parse", "http.client", "xml.etree.ElementTree", "zoneinfo", "sqlite3",
                                    "asyncio", "email.mime.text", "json", "datetime", "re"])
def test_standard_library_packages_import(guarded, module):
    assert guarded.run("python3", f"import {module}\ndef main():\n    return {{'ok': True}}\n", {}) == {"ok": True}


def test_asyncio_runs_without_sockets(guarded):
    code = ("import asyncio\n"
            "async def square(n):\n"
            "    await asyncio.sleep(0.01)\n"
            "    return n * n\n"
            "async def both():\n"
            "    return await asyncio.gather(square(3), square(4))\n"
            "def main():\n"
            "    return {'r': asyncio.run(both())}\n")
    assert guarded.run("python3", code, {}) == {"r": [9, 16]}


def test_standard_library_works_but_listing_host_folders_does_not(guarded):
    code = ("import zoneinfo, datetime, sqlite3\nfrom urllib.parse import urlencode\n"
            "def main():\n"
            "    t = datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo('Asia/Shanghai'))\n"
            "    n = sqlite3.connect(':memory:').execute('select 40 + 2').fetchone()[0]\n"
            "    return {'t': t.isoformat(), 'n': n, 'q': urlencode({'a': 'b c'})}\n")
    assert guarded.run("python3", code, {}) == {"t": "2024-01-01T00:00:00+08:00", "n": 42, "q": "a=b+c"}
    assert "not allowed" in fails(guarded, "import os\ndef main():\n    return {'l': os.listdir('/etc')}\n")
    assert "not allowed" in fails(guarded, "import os\ndef main():\n    return {'l': os.listdir('/')}\n")


def test_a_child_flooding_the_relay_cannot_stall_its_parent(sink):
    box = ProcessSandbox(SandboxLimits(wall_seconds=2.0, cpu_seconds=5, memory_mb=256),
                         http=EgressClient(EgressPolicy.parse("127.0.0.1")))
    # Requests for large replies on every descriptor, never reading an answer, then waiting past the limit.
    code = ("import os, time\n"
            "def main(url):\n"
            "    line = ('{\"method\": \"GET\", \"url\": \"' + url + '/big?n=300000\"}\\n').encode()\n"
            "    for _ in range(100):\n"
            "        for fd in range(3, os.sysconf('SC_OPEN_MAX')):\n"
            "            try:\n"
            "                os.write(fd, line)\n"
            "            except OSError:\n"
            "                pass\n"
            "    time.sleep(30)\n"
            "    return {}\n")
    began = time.monotonic()
    with pytest.raises(WorkflowError):
        box.run("python3", code, {"url": sink.url})
    assert time.monotonic() - began < 6.0
