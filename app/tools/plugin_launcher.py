"""The first code a plugin child runs: confine itself, tie its life to the worker's, then run the plugin's
entrypoint as `python -m main` would (the dify-plugin SDK's local mode then speaks JSON lines on stdin/stdout).

Runs under the plugin's own interpreter (its runtime venv), started as `python -I plugin_launcher.py <spec>`, so it
imports only the standard library and the code sandbox's confinement steps (`app/providers/sandbox_confine.py`,
loaded by path), nothing else from `app`. Steps, each best effort where the kernel lacks it:
- a lifeline: the parent holds the write end of a pipe; when the parent dies the pipe reads EOF and this process
  exits at once. Unlike PR_SET_PDEATHSIG it does not fire when merely the thread that spawned the child ends;
- resource limits (address space, file size, open files, no core dumps), no capabilities, no new privileges;
- Landlock: reading only the interpreter, the plugin's environment and package, system libraries and a few `/etc`
  files, writing only its private home; TCP connect only to the egress proxy's port, no TCP bind (ABI >= 4), so
  HTTP leaves only through the proxy the parent runs (which applies the egress guard). UDP is not covered.
"""

from __future__ import annotations

import _thread
import json
import os
import resource
import runpy
import sys
import sysconfig

# The sibling package's module is loaded by path: `-I` keeps app/ off sys.path, and only that file is wanted.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "providers"))
import sandbox_confine as confine  # noqa: E402

sys.path.pop(0)

SYSTEM_READ_PATHS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/usr/share/ca-certificates",
                     "/etc/ssl", "/etc/ca-certificates", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                     "/etc/gai.conf", "/etc/host.conf", "/etc/localtime", "/etc/mime.types", "/dev/urandom",
                     "/dev/random", "/sys/devices/system/cpu")


def set_limits(memory_bytes: int, file_bytes: int, open_files: int) -> None:
    """A plugin is a long-lived threaded server: no CPU-seconds or process caps (each call has a deadline)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def read_paths(root: str) -> list[str]:
    paths = sysconfig.get_paths()
    found = [paths["stdlib"], paths["platstdlib"], sys.prefix, sys.base_prefix, root,
             os.path.dirname(os.path.realpath(sys.executable)), os.path.realpath("/proc/self"),
             *SYSTEM_READ_PATHS]
    return list(dict.fromkeys(os.path.realpath(p) for p in found))


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
    limits = spec["limits"]
    set_limits(limits["memory_bytes"], limits["file_bytes"], limits["open_files"])
    confine.drop_capabilities()
    confine.no_new_privs()
    root = spec["root"]
    if spec.get("confine", True):
        ports = [int(spec["proxy_port"])] if spec.get("proxy_port") else []
        confine.landlock(read_paths(root), [spec["home"], "/dev/null"], ports)
    os.chdir(root)
    sys.path.insert(0, root)
    sys.argv = [spec["entrypoint"]]
    runpy.run_module(spec["entrypoint"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
