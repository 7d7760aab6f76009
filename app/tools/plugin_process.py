"""One running plugin: the child process and the dify-plugin SDK's local (stdio) protocol, parent side.

The child is `python -I plugin_launcher.py <spec>` under the plugin's runtime interpreter, in the package folder,
in its own process group, with a cleared environment (plus the egress proxy variables), the limits of
`PluginLimits`, and a lifeline pipe so it dies with the worker. It first writes its manifest as one JSON line;
then each request is one line on stdin (`{"session_id", "event": "request", "data": {...}}`) and the answers are
lines on stdout (`{"event": "session", "session_id", "data": {"type": "stream" | "end" | "error" | "invoke"}}`),
between heartbeats and logs, which are skipped. Calls are serialised per process; a call past its deadline kills
the process group and the next call starts a fresh child.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ToolInvokeError
from app.tools.plugin_package import PluginPackage
from app.tools.plugin_proxy import EgressProxy

LAUNCHER = Path(__file__).with_name("plugin_launcher.py")
MAX_LINE_BYTES = 32 * 1024 * 1024
STDERR_TAIL = 1500


@dataclass(frozen=True)
class PluginLimits:
    """What one plugin child may use. Plugins are long-lived servers (gevent, a thread pool), so the address space
    is larger than a code node's and there is no CPU-seconds cap; each call has a wall-clock deadline instead."""

    memory_mb: int = 1024
    file_bytes: int = 50 * 1024 * 1024
    open_files: int = 256
    startup_seconds: float = 60.0


class PluginProcess:
    """Thread-safe: calls take a lock. `close` kills the child; a later call starts it again."""

    def __init__(self, package: PluginPackage, python: str, proxy: EgressProxy | None = None,
                 limits: PluginLimits | None = None) -> None:
        self.package = package
        self.python = python
        self.proxy = proxy
        self.limits = limits or PluginLimits()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None
        self._stderr: Any = None
        self._home: str | None = None
        self._buffer = b""
        self.manifest: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def call(self, request: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """Send one request; return the `stream` payloads in order. Raises ToolInvokeError when the plugin
        reports an error, exits, asks for something Trellis does not offer, or misses the deadline."""
        with self._lock:
            if self.pid is None:  # starting has its own budget: a cold start is not the tool's time
                self._start(time.monotonic() + self.limits.startup_seconds)
            deadline = time.monotonic() + timeout
            session_id = uuid.uuid4().hex
            self._send({"session_id": session_id, "event": "request", "data": request})
            try:
                return self._collect(session_id, deadline)
            except ToolInvokeError:
                raise
            except TimeoutError as exc:
                self._stop()
                raise ToolInvokeError(f"plugin {self.package.plugin_id} did not answer within {timeout:g}s") from exc

    def _collect(self, session_id: str, deadline: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            record = self._next_record(deadline)
            if record.get("event") != "session" or record.get("session_id") != session_id:
                continue  # heartbeats, logs, stray lines
            data = record.get("data") or {}
            kind = data.get("type")
            if kind == "stream":
                out.append(data.get("data") or {})
            elif kind == "end":
                return out
            elif kind == "error":
                error = data.get("data") or {}
                self._drain_to_end(session_id, deadline)
                raise ToolInvokeError(f"{error.get('error_type', 'Error')}: {error.get('message', 'plugin failed')}")
            elif kind == "invoke":
                self._refuse_backwards(session_id, data.get("data") or {})

    def _drain_to_end(self, session_id: str, deadline: float) -> None:
        """The SDK follows an error with `end`; read it so the next call starts clean."""
        with contextlib.suppress(TimeoutError, ToolInvokeError):
            while True:
                record = self._next_record(min(deadline, time.monotonic() + 2.0))
                data = record.get("data") or {}
                if record.get("session_id") == session_id and data.get("type") == "end":
                    return

    def _refuse_backwards(self, session_id: str, invoke: dict[str, Any]) -> None:
        """Plugins may call back into Dify (models, apps, storage); Trellis answers that with an error, which the
        SDK raises inside the tool."""
        self._send({"session_id": session_id, "event": "backwards_response",
                    "data": {"backwards_request_id": invoke.get("backwards_request_id", ""), "event": "error",
                             "message": f"Trellis does not offer backwards invocation ({invoke.get('type')})",
                             "data": None}})

    # -- the child ----------------------------------------------------------------------------------------------

    def _start(self, deadline: float) -> None:
        self._stop()
        read_end, write_end = os.pipe()
        self._home = tempfile.mkdtemp(prefix="trellis-plugin-")
        spec = {"root": str(self.package.root), "entrypoint": self.package.entrypoint, "lifeline_fd": read_end,
                "proxy_port": self.proxy.port if self.proxy else None, "home": self._home,
                "limits": {"memory_bytes": self.limits.memory_mb * 1024 * 1024, "file_bytes": self.limits.file_bytes,
                           "open_files": self.limits.open_files}}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self._home, "TMPDIR": self._home, "LANG": "C.UTF-8",
               "INSTALL_METHOD": "local", **(self.proxy.env() if self.proxy else {})}
        # Lives as long as the child (closed in `_stop`), so no `with`.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            # No preexec_fn (the worker is threaded): the launcher confines the child itself.
            self._proc = subprocess.Popen([self.python, "-I", str(LAUNCHER), json.dumps(spec)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                          cwd=self.package.root, env=env, start_new_session=True,
                                          pass_fds=(read_end,))
        except OSError as exc:
            os.close(write_end)
            raise ToolInvokeError(f"plugin {self.package.plugin_id} cannot start: {exc}") from exc
        finally:
            os.close(read_end)
        self._lifeline, self._buffer = write_end, b""
        try:
            while "event" in (record := self._next_record(deadline)):
                continue
        except TimeoutError as exc:
            self._stop()
            raise ToolInvokeError(f"plugin {self.package.plugin_id} did not start in time") from exc
        self.manifest = record

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc and self._proc.stdin
        try:
            self._proc.stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise self._died() from exc

    def _next_record(self, deadline: float) -> dict[str, Any]:
        """The next JSON object line from the child. Raises TimeoutError, or ToolInvokeError when it exited."""
        assert self._proc and self._proc.stdout
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                line, newline, rest = self._buffer.partition(b"\n")
                if newline:
                    self._buffer = rest
                    record = _parse(line)
                    if record is not None:
                        return record
                    continue
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._stop()
                    raise ToolInvokeError(f"plugin {self.package.plugin_id} sent a message over {MAX_LINE_BYTES} bytes")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if sel.select(remaining):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        raise self._died()
                    self._buffer += chunk

    def _died(self) -> ToolInvokeError:
        status = self._proc.wait(5) if self._proc else None
        tail = self._stderr_tail()
        self._stop()
        detail = f": {tail}" if tail else ""
        return ToolInvokeError(f"plugin {self.package.plugin_id} exited (status {status}){detail}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        # The last lines carry the reason (a traceback's exception line); the whole tail stays out of messages.
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-2:])

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    with contextlib.suppress(OSError):
                        stream.close()
        for closer in (self._close_lifeline, self._close_stderr):
            closer()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def _close_lifeline(self) -> None:
        if self._lifeline is not None:
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            self._lifeline = None

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        with self._lock:
            self._stop()


def _parse(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith(b"{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
