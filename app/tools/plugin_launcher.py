"""The first code a plugin child runs: confine itself, tie its life to the worker's, then run the plugin's
entrypoint as `python -m main` would (the dify-plugin SDK's local mode then speaks JSON lines on stdin/stdout).

Runs under the plugin's own interpreter (its runtime venv), started as `python -I plugin_launcher.py <spec>`, so it
imports only the standard library and nothing from `app`. Steps, each best effort where the kernel may lack it:
- resource limits (address space, file size, open files, no core dumps) and no-new-privileges;
- Landlock (ABI >= 4): TCP connect only to the egress proxy's port and no TCP bind, so HTTP leaves only through the
  proxy the parent runs (which applies the egress guard); UDP (DNS) is not covered by Landlock;
- a lifeline: the parent holds the write end of a pipe; when the parent dies the pipe reads EOF and this process
  exits at once. Unlike PR_SET_PDEATHSIG it does not fire when the mere thread that spawned the child ends.
"""

from __future__ import annotations

import _thread
import ctypes
import ctypes.util
import json
import os
import resource
import runpy
import sys

PR_SET_NO_NEW_PRIVS = 38
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
RULE_NET_PORT = 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64)]


class _NetPortAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def set_limits(memory_bytes: int, file_bytes: int, open_files: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def only_connect_to(port: int) -> bool:
    """Landlock network rules: no TCP bind, TCP connect only to `port`. False when the kernel cannot."""
    libc = _libc()
    abi = libc.syscall(SYS_CREATE_RULESET, None, 0, 1)
    if abi < 4:
        return False
    attr = _RulesetAttr(0, NET_BIND_TCP | NET_CONNECT_TCP)
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        return False
    try:
        rule = _NetPortAttr(NET_CONNECT_TCP, port)
        if libc.syscall(SYS_ADD_RULE, ruleset, RULE_NET_PORT, ctypes.byref(rule), 0) != 0:
            return False
        return bool(libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) == 0)
    finally:
        os.close(ruleset)


def watch_lifeline(fd: int) -> None:
    def wait() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    os._exit(70)
            except InterruptedError:
                continue
            except OSError:
                os._exit(70)
    # A raw thread, not `threading`: the SDK monkey-patches threading with gevent on import, which trips over
    # threads `threading` already knows about.
    _thread.start_new_thread(wait, ())


def main() -> None:
    spec = json.loads(sys.argv[1])
    watch_lifeline(int(spec["lifeline_fd"]))
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    limits = spec["limits"]
    set_limits(limits["memory_bytes"], limits["file_bytes"], limits["open_files"])
    if spec.get("proxy_port"):
        only_connect_to(int(spec["proxy_port"]))  # without Landlock, the proxy variables alone steer HTTP
    root = spec["root"]
    os.chdir(root)
    sys.path.insert(0, root)
    sys.argv = [spec["entrypoint"]]
    runpy.run_module(spec["entrypoint"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
