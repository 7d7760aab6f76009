"""The code sandbox: runs one snippet of user Python in a fresh, confined child process.

Every execution gets its own process (`python -I -S -B`, an empty environment, a new empty working folder, its
own session so the whole process group can be killed, a parent-death signal so it dies with the worker) that
confines itself before running user code: see `sandbox_child` and `sandbox_confine`, and docs/security.md for
what each layer stops and where it is missing; `sandbox_reaper` cleans up after a worker that died.
The parent enforces the wall-clock limit and caps what it reads back, so a hostile snippet can fail only its own
node. Raises WorkflowError with a message a workflow author can act on. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import WorkflowError
from app.providers.egress import EgressClient
from app.providers.sandbox_http import package_paths
from app.providers.sandbox_relay import HttpRelay

CHILD = Path(__file__).with_name("sandbox_child.py")
NOBODY = 65534
# Read-only folders a child may see besides the standard library: shared libraries and time zones.
SYSTEM_READ_PATHS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/dev/urandom")
STDERR_TAIL = 2000
FOLDER_PREFIX = "trellis-sbx-"


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 15.0
    cpu_seconds: int = 10
    memory_mb: int = 256
    output_bytes: int = 1_000_000
    file_bytes: int = 10_000_000


@dataclass(frozen=True)
class Execution:
    result: dict[str, Any]
    layers: tuple[str, ...]
    elapsed: float


class ProcessSandbox:
    """Thread-safe: each call owns its child and folder. `layers` narrows the confinement (tests use it to
    check one kernel layer at a time); by default every available layer is applied."""

    def __init__(self, limits: SandboxLimits | None = None, python: str | None = None,
                 work_root: str | None = None, layers: tuple[str, ...] | None = None,
                 http: EgressClient | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._python = python or sys.executable
        self._work_root = work_root
        self._layers = layers
        # `requests` and `httpx` come from this interpreter's site-packages (read-only, those packages only);
        # their requests go through `http`, the egress guard, or fail with a clear error without it.
        self._packages = sysconfig.get_paths()["purelib"]
        self._read_paths = _read_paths() + tuple(package_paths(self._packages))
        self._relay = HttpRelay(http, self.limits.file_bytes) if http is not None else None
        self._run_as = NOBODY if os.geteuid() == 0 and _world_readable(self._read_paths[0]) else None
        self._seccomp_path = _seccomp_path()

    def run(self, language: str, code: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run `main(**inputs)` of `code`; returns the dict it returned. Raises WorkflowError on any failure."""
        return self.execute(language, code, inputs).result

    def execute(self, language: str, code: str, inputs: dict[str, Any]) -> Execution:
        if language != "python3":
            raise WorkflowError(f"code language {language!r} is not supported; use python3")
        request = {"code": code, "inputs": inputs, "read_paths": list(self._read_paths), "run_as": self._run_as,
                   "seccomp_path": self._seccomp_path, "layers": list(self._layers or ()),
                   "packages": self._packages,
                   "parent_pid": os.getpid(),  # the child dies with this process (PR_SET_PDEATHSIG)
                   "limits": {"cpu_seconds": self.limits.cpu_seconds,
                              "memory_bytes": self.limits.memory_mb * 1024 * 1024,
                              "file_bytes": self.limits.file_bytes, "output_bytes": self.limits.output_bytes}}
        # The relay's socket pair exists before the child does: the child inherits its end, as the one
        # descriptor through which its HTTP libraries talk (it cannot open sockets of its own).
        pair = socket.socketpair() if self._relay is not None else None
        request["http_fd"] = pair[1].fileno() if pair else None
        try:
            payload = json.dumps(request, ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            _close(pair)
            raise WorkflowError(f"code inputs are not JSON: {exc}") from exc
        # The folder names its owner, so a reaper can tell a dead worker's leftovers (sandbox_reaper).
        folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=self._work_root)
        started = time.monotonic()
        try:
            if self._run_as is not None:
                os.chown(folder, self._run_as, self._run_as)
            stdout, stderr, status, timed_out = self._spawn(payload, folder, pair)
        finally:
            _close(pair)
            shutil.rmtree(folder, ignore_errors=True)
        elapsed = time.monotonic() - started
        reply = _parse(stdout)
        if timed_out:
            raise WorkflowError(f"code execution timed out after {self.limits.wall_seconds:g}s (wall clock)")
        if reply is None:
            raise WorkflowError(_crash_message(status, stdout, stderr, self.limits))
        if not reply.get("ok"):
            raise WorkflowError(f"code execution failed: {reply.get('error', 'unknown error')}")
        return Execution(result=reply["result"], layers=tuple(reply.get("layers", ())), elapsed=elapsed)

    def _spawn(self, payload: bytes, folder: str, pair: tuple[socket.socket, socket.socket] | None
               ) -> tuple[bytes, bytes, int, bool]:
        # No preexec_fn: the worker is threaded; the child confines itself instead.
        proc = subprocess.Popen([self._python, "-I", "-S", "-B", str(CHILD)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={}, cwd=folder,
                                start_new_session=True, close_fds=True,
                                pass_fds=(pair[1].fileno(),) if pair else ())
        if pair:
            pair[1].close()  # the child holds it now; the parent keeps only its own end
        try:
            return self._collect(proc, payload, pair[0] if pair else None)
        finally:
            _kill_group(proc)

    def _collect(self, proc: subprocess.Popen[bytes], payload: bytes, relay: socket.socket | None
                 ) -> tuple[bytes, bytes, int, bool]:
        """Feed the request and read both pipes until exit, the wall-clock deadline or the output cap; answer
        the child's HTTP requests meanwhile."""
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + self.limits.wall_seconds
        cap = self.limits.output_bytes + 4096
        out, err = bytearray(), bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, out)
            sel.register(proc.stderr, selectors.EVENT_READ, err)
            pending = bytearray()
            if relay is not None:
                sel.register(relay, selectors.EVENT_READ, pending)
            while any(key.fileobj is not relay for key in sel.get_map().values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return bytes(out), bytes(err), -signal.SIGKILL, True
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    if key.fileobj is relay and relay is not None:
                        self._serve(relay, pending, chunk, deadline)
                        continue
                    buffer: bytearray = key.data
                    buffer += chunk
                    if len(out) > cap:
                        return bytes(out), bytes(err), -1, False
                    del err[:-STDERR_TAIL]
        try:
            status = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return bytes(out), bytes(err), -signal.SIGKILL, True
        return bytes(out), bytes(err), status, False

    def _serve(self, relay: socket.socket, pending: bytearray, chunk: bytes, deadline: float) -> None:
        """Answer every complete request line the child has written so far. Bounded: a line longer than a
        request may be is dropped, and a reply the child does not read is abandoned at the wall-clock deadline
        (the child cannot stall its parent)."""
        assert self._relay is not None
        pending += chunk
        if len(pending) > self.limits.file_bytes * 2 + 65536:  # base64 of the largest body, plus headers
            pending.clear()
        while b"\n" in pending:
            if time.monotonic() >= deadline:  # the run is over; what is left goes unanswered
                pending.clear()
                return
            end = pending.index(b"\n")
            line = bytes(pending[:end])
            del pending[:end + 1]
            reply = self._relay.answer(line, deadline - time.monotonic()) + b"\n"
            with contextlib.suppress(OSError):  # the child died, or left the reply unread past the deadline
                relay.settimeout(max(0.05, deadline - time.monotonic()))
                relay.sendall(reply)


def _close(pair: tuple[socket.socket, socket.socket] | None) -> None:
    for end in pair or ():
        end.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream and not stream.closed:
            stream.close()


def _parse(stdout: bytes) -> dict[str, Any] | None:
    line = stdout.strip().split(b"\n")[-1] if stdout.strip() else b""
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _crash_message(status: int, stdout: bytes, stderr: bytes, limits: SandboxLimits) -> str:
    if len(stdout) > limits.output_bytes:
        return f"code output is larger than {limits.output_bytes} bytes"
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"code execution exceeded the CPU time limit ({limits.cpu_seconds}s)"
    if b"MemoryError" in stderr:
        return f"code execution exceeded the memory limit ({limits.memory_mb} MB)"
    if status < 0:
        return f"code execution crashed (signal {signal.Signals(-status).name})"
    tail = stderr.decode(errors="replace").strip().splitlines()[-1:]
    return f"code execution failed: {tail[0]}" if tail else f"code exited (status {status}) without a result"


def _read_paths() -> tuple[str, ...]:
    """The standard library first (the child needs it to import), then system libraries and /dev/null."""
    paths = sysconfig.get_paths()
    found = [paths["stdlib"], paths["platstdlib"], *SYSTEM_READ_PATHS]
    return tuple(dict.fromkeys(os.path.realpath(p) for p in found))


def _world_readable(path: str) -> bool:
    """Whether `nobody` could import from `path`: every ancestor searchable by others, the folder readable."""
    current = Path(path)
    if current.stat().st_mode & 0o005 != 0o005:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in current.parents)


def _seccomp_path() -> str | None:
    """The folder holding `pyseccomp`, handed to the child (which runs without site-packages)."""
    try:
        import pyseccomp
    except ImportError:
        return None
    origin = Path(pyseccomp.__file__).resolve()
    return str(origin.parent.parent if origin.name == "__init__.py" else origin.parent)
