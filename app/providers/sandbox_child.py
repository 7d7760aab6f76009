"""The program a code-sandbox child runs: `python -I -S -B sandbox_child.py`, request as JSON on stdin.

It confines itself (see `sandbox_confine`), then executes the user's code, calls `main(**inputs)` and writes one
JSON line to the descriptor that was stdout when it started: `{"ok": true, "result": {...}, "layers": [...]}` or
`{"ok": false, "kind": "...", "error": "..."}`. Whatever the user code prints is discarded. Only the standard
library (and `pyseccomp`, lazily) is imported; nothing from `app`. `requests` and `httpx` are importable by the
user's code through `sandbox_http`, which sends their requests to the parent over an inherited descriptor.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

# The sibling module is loaded by path: `-I` keeps this folder off sys.path, and only that file is wanted.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox_confine as confine  # noqa: E402
import sandbox_http  # noqa: E402

sys.path.pop(0)

ALL_LAYERS = ("netns", "user", "capabilities", "rlimits", "landlock", "seccomp", "audit")


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: Any) -> None:
    """SIGKILL this process when the worker that started it dies, and exit now if it already has. Armed again
    after the switch to `nobody`, since a change of credentials clears it."""
    confine._libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if isinstance(parent_pid, int) and os.getppid() != parent_pid:
        os._exit(1)


def _confine(request: dict[str, Any]) -> list[str]:
    wanted = set(request.get("layers") or ALL_LAYERS)
    limits = request["limits"]
    home = os.getcwd()
    applied: list[str] = []
    seccomp = confine.load_seccomp(request.get("seccomp_path")) if "seccomp" in wanted else None
    if "netns" in wanted and confine.enter_network_namespace():
        applied.append("netns")
    run_as = request.get("run_as")
    if "user" in wanted and run_as is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(run_as))
        os.setuid(int(run_as))
        applied.append("user")
    _die_with_parent(request.get("parent_pid"))
    if "capabilities" in wanted and confine.drop_capabilities():
        applied.append("capabilities")
    if "rlimits" in wanted:
        confine.set_limits(int(limits["cpu_seconds"]), int(limits["memory_bytes"]), int(limits["file_bytes"]))
        applied.append("rlimits")
    confine.no_new_privs()
    if "landlock" in wanted:
        abi = confine.landlock(request.get("read_paths", []), [home, os.devnull])
        if abi:
            applied.append(f"landlock-v{abi}")
    if "seccomp" in wanted and confine.seccomp(seccomp):
        applied.append("seccomp")
    if "audit" in wanted:
        sys.addaudithook(confine.audit_hook(request.get("read_paths", []), home))
        applied.append("audit")
    return applied


def _run(code: str, inputs: dict[str, Any]) -> Any:
    namespace: dict[str, Any] = {"__name__": "__sandbox__"}
    exec(compile(code, "<code>", "exec"), namespace)
    main = namespace.get("main")
    if not callable(main):
        raise NameError("the code must define a function `main`")
    return main(**inputs)


def _reply(fd: int, body: dict[str, Any], max_bytes: int) -> None:
    data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    if len(data) > max_bytes:
        data = json.dumps({"ok": False, "kind": "output",
                           "error": f"the result is larger than {max_bytes} bytes"}).encode()
    os.write(fd, data + b"\n")


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    _die_with_parent(request.get("parent_pid"))
    max_bytes = int(request["limits"]["output_bytes"])
    devnull = os.open(os.devnull, os.O_RDWR)
    result_fd = os.dup(1)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    layers = _confine(request)
    sandbox_http.install(request.get("packages"), request.get("http_fd"))
    # Forget the native-code modules confinement used, so the user's `import ctypes` is a fresh, audited import.
    for name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes", "pyseccomp", "sandbox_confine",
                                                                "sandbox_http")]:
        del sys.modules[name]
    globals().pop("confine", None)
    sys.stdout = sys.stderr = open(devnull, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    try:
        result = _run(request["code"], request.get("inputs") or {})
        if not isinstance(result, dict):
            raise TypeError(f"main() must return a dict, got {type(result).__name__}")
        body: dict[str, Any] = {"ok": True, "result": result, "layers": layers}
        try:
            _reply(result_fd, body, max_bytes)
        except (TypeError, ValueError) as exc:
            _reply(result_fd, {"ok": False, "kind": "user", "error": f"the result is not JSON: {exc}"}, max_bytes)
    except MemoryError:
        _reply(result_fd, {"ok": False, "kind": "memory", "error": "memory limit exceeded"}, max_bytes)
    except BaseException as exc:  # the user's code failed: report its last frame, not ours
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<code>"]
        where = f" (line {frames[-1].lineno})" if frames else ""
        _reply(result_fd, {"ok": False, "kind": "user", "layers": layers,
                           "error": f"{type(exc).__name__}: {exc}{where}"}, max_bytes)


if __name__ == "__main__":
    main()
