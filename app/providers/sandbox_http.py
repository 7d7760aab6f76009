"""Inside the code-sandbox child: the HTTP libraries Dify's sandbox ships (`requests`, `httpx`) without any
network access of the child's own.

The child may not create sockets (seccomp, Landlock, its own network namespace). Instead it inherits one end of a
socket pair from the parent, and the transports of `requests` (`HTTPAdapter.send`) and `httpx`
(`HTTPTransport.handle_request`) are replaced, as they are imported, by one that writes the request as a JSON
line to that descriptor and reads the reply: the parent (`sandbox_relay`) sends it through the egress guard, so
the guard's rules apply to every hop (redirects are handed back to the library, which sends the next hop the same
way). The third-party packages come from an allow-list, each found directly in the parent's site-packages folder,
which itself stays off `sys.path`. asyncio's event loops get their wake-up channel from a pipe instead of the
socket pair they would make, so `asyncio.run` works too.

Runs with `python -I -S`: imports only the standard library, nothing from `app`.
"""

from __future__ import annotations

import base64
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

# The packages `requests` and `httpx` need, and nothing else from site-packages.
PACKAGES = ("requests", "urllib3", "idna", "charset_normalizer", "certifi", "httpx", "httpcore", "h11", "anyio",
            "sniffio", "typing_extensions")
MAX_LINE = 64 * 1024 * 1024


class RelayError(Exception):
    """The parent could not complete the request; `kind` is refused | timeout | connect | invalid."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Relay:
    """Request/reply over the inherited descriptor, one exchange at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._pending = b""

    def fetch(self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes | None,
              timeout: float | None) -> dict[str, Any]:
        message = {"method": method, "url": url, "headers": [list(h) for h in headers], "timeout": timeout,
                   "body": base64.b64encode(body).decode() if body else None}
        with self._lock:
            data = json.dumps(message).encode() + b"\n"
            while data:
                data = data[os.write(self._fd, data):]
            line = self._read_line()
        reply = json.loads(line)
        if "error" in reply:
            raise RelayError(str(reply.get("kind", "connect")), str(reply["error"]))
        reply["body"] = base64.b64decode(reply.get("body") or "")
        return reply

    def _read_line(self) -> bytes:
        while b"\n" not in self._pending:
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise RelayError("connect", "the sandbox's HTTP relay closed")
            self._pending += chunk
            if len(self._pending) > MAX_LINE:
                raise RelayError("invalid", "the HTTP reply is too large")
        line, _, self._pending = self._pending.partition(b"\n")
        return line


def _timeout_of(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, tuple | list):
        numbers = [float(v) for v in value if isinstance(v, int | float)]
        return max(numbers) if numbers else None
    if isinstance(value, dict):
        numbers = [float(v) for v in value.values() if isinstance(v, int | float)]
        return max(numbers) if numbers else None
    return None


def _patch_requests(module: ModuleType, relay: Relay) -> None:
    from requests import exceptions
    from requests.models import Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    def send(self: Any, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes | bytearray):
            body = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in body)
        try:
            reply = relay.fetch(request.method, request.url, list(request.headers.items()), body,
                                _timeout_of(timeout))
        except RelayError as exc:
            error = exceptions.Timeout if exc.kind == "timeout" else exceptions.ConnectionError
            raise error(str(exc), request=request) from None
        response = Response()
        response.status_code = int(reply["status"])
        response.headers = CaseInsensitiveDict({k: v for k, v in reply["headers"]})
        response._content = reply["body"]
        response._content_consumed = True  # iter_content/iter_lines then slice the body already read
        response.encoding = get_encoding_from_headers(response.headers)
        response.reason = reply.get("reason", "")
        response.url = reply.get("url") or request.url
        response.request = request
        response.connection = self
        return response

    module.HTTPAdapter.send = send


def _patch_httpx(module: ModuleType, relay: Relay) -> None:
    import httpx

    def handle_request(self: Any, request: Any) -> Any:
        content = request.read()
        try:
            reply = relay.fetch(request.method, str(request.url), list(request.headers.multi_items()), content,
                                _timeout_of(request.extensions.get("timeout")))
        except RelayError as exc:
            error = httpx.ReadTimeout if exc.kind == "timeout" else httpx.ConnectError
            raise error(str(exc), request=request) from None
        return httpx.Response(int(reply["status"]), headers=reply["headers"], content=reply["body"],
                              request=request)

    module.HTTPTransport.handle_request = handle_request


class _PipeEnd:
    """One end of an `os.pipe`, with the few socket methods asyncio's self-pipe uses (the child may not create
    sockets, and asyncio makes a socket pair for every event loop)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def setblocking(self, flag: bool) -> None:
        os.set_blocking(self._fd, flag)

    def recv(self, size: int) -> bytes:
        return os.read(self._fd, size)

    def send(self, data: bytes) -> int:
        return os.write(self._fd, data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _patch_asyncio(module: ModuleType) -> None:
    def make_self_pipe(self: Any) -> None:
        read_end, write_end = os.pipe()
        self._ssock, self._csock = _PipeEnd(read_end), _PipeEnd(write_end)
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self._internal_fds += 1
        self._add_reader(self._ssock.fileno(), self._read_from_self)

    module.BaseSelectorEventLoop._make_self_pipe = make_self_pipe


class _Patching(importlib.abc.Loader):
    """Executes a module with its own loader, then patches it."""

    def __init__(self, inner: Any, patch: Callable[[ModuleType], None]) -> None:
        self._inner = inner
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        self._patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the allow-listed packages in `root`, and routes the two transport modules through a patch."""

    def __init__(self, root: str, relay: Relay | None) -> None:
        self._root = root
        self._patches: dict[str, Callable[[ModuleType], None]] = {"asyncio.selector_events": _patch_asyncio}
        if relay is not None:
            self._patches.update({"requests.adapters": lambda m: _patch_requests(m, relay),
                                  "httpx._transports.default": lambda m: _patch_httpx(m, relay)})

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname in self._patches:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _Patching(spec.loader, self._patches[fullname])
            return spec
        if path is not None or fullname not in PACKAGES:
            return None
        folder = os.path.join(self._root, fullname)
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return importlib.util.spec_from_file_location(fullname, os.path.join(folder, "__init__.py"),
                                                          submodule_search_locations=[folder])
        if os.path.isfile(folder + ".py"):
            return importlib.util.spec_from_file_location(fullname, folder + ".py")
        return None


def package_paths(root: str) -> list[str]:
    """The folders and files of the allow-listed packages present in `root` (read access for the child)."""
    found = []
    for name in PACKAGES:
        for candidate in (os.path.join(root, name), os.path.join(root, name + ".py")):
            if os.path.exists(candidate):
                found.append(candidate)
    return found


def install(root: str | None, fd: int | None) -> None:
    """Make the allow-listed packages importable from `root`, their HTTP going over `fd` (no relay: they
    import, and every request fails with a clear message)."""
    if not root:
        return
    sys.meta_path.insert(0, _Finder(root, Relay(fd) if fd is not None else _NoRelay()))


class _NoRelay(Relay):
    def __init__(self) -> None:
        super().__init__(-1)

    def fetch(self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes | None,
              timeout: float | None) -> dict[str, Any]:
        raise RelayError("refused", "outbound HTTP is not configured for the code sandbox")
