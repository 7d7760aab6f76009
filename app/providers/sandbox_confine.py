"""Confinement steps a code-sandbox child applies to itself before it runs user code.

Each step is best effort and reports whether it took effect, so the child can say which layers guard it:
a network namespace, dropped capabilities, resource limits, Landlock (filesystem, TCP and signal scoping),
a seccomp filter (no new processes, no sockets, no ptrace, no signals to other processes) and a Python audit hook
that turns what slipped through into clear `PermissionError`s. The kernel layers are the enforcement; the audit
hook is for messages and for hosts without them.

This module runs inside the child, started with `python -I -S`: it imports only the standard library, and
`pyseccomp` lazily (from a path the parent hands over). It must not import anything from `app`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import sys
from collections.abc import Callable, Iterable
from typing import Any

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38

# Landlock UAPI (include/uapi/linux/landlock.h); the syscall numbers are the same on every architecture.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_DIR, FS_MAKE_REG = 1 << 4, 1 << 5, 1 << 7, 1 << 8
FS_TRUNCATE = 1 << 14
NET_ALL = (1 << 0) | (1 << 1)  # bind and connect TCP
SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets and signals


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def enter_network_namespace() -> bool:
    """Move into a fresh network namespace (only a down loopback). Root can do it directly; others need an
    unprivileged user namespace, which many container runtimes forbid."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if _libc.unshare(flags) == 0:
        return True
    # Root outside a user namespace may still lack CAP_SYS_ADMIN (a container): try with one.
    return os.geteuid() == 0 and _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0


def drop_capabilities() -> bool:
    """Clear every capability set (matters when the worker runs as root)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    return bool(_libc.capset(ctypes.byref(header), ctypes.byref(data)) == 0)


def set_limits(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> None:
    """Hard limits the child cannot raise again. CPU: SIGXCPU at the soft limit, SIGKILL one second later."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    # Not enforced for root, which is why seccomp also forbids fork.
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def no_new_privs() -> bool:
    return bool(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)


def _landlock_abi() -> int:
    abi = _libc.syscall(SYS_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return int(abi) if abi > 0 else 0


def landlock(read_paths: Iterable[str], write_paths: Iterable[str], connect_ports: Iterable[int] = ()) -> int:
    """Allow reading only under `read_paths` and writing only under `write_paths`; with ABI >= 4 forbid TCP
    bind and connect (except connecting to `connect_ports`), with ABI >= 6 forbid signalling or reaching abstract
    sockets outside the sandbox. Returns the ABI version enforced, 0 when Landlock is unavailable."""
    abi = _landlock_abi()
    if abi == 0:
        return 0
    handled = (1 << 13) - 1
    if abi >= 2:
        handled |= 1 << 13  # REFER
    if abi >= 3:
        handled |= FS_TRUNCATE
    if abi >= 5:
        handled |= 1 << 15  # IOCTL_DEV
    attr = _RulesetAttr(handled, NET_ALL if abi >= 4 else 0, SCOPE_ALL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return 0
    read = FS_READ_FILE | FS_READ_DIR
    write = read | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG
    write |= FS_TRUNCATE if abi >= 3 else 0
    try:
        for paths, access in ((read_paths, read), (write_paths, write)):
            for path in paths:
                _add_path_rule(ruleset, path, access)
        for port in connect_ports if abi >= 4 else ():
            rule = _NetPort(1 << 1, port)  # CONNECT_TCP
            _libc.syscall(SYS_ADD_RULE, ruleset, 2, ctypes.byref(rule), 0)  # LANDLOCK_RULE_NET_PORT
        if _libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) != 0:
            return 0
    finally:
        os.close(ruleset)
    return abi


def _add_path_rule(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this host does not have
    try:
        if not os.path.isdir(path):
            access &= FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE  # rights that apply to a file
        rule = _PathBeneath(access, fd)
        _libc.syscall(SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0)  # LANDLOCK_RULE_PATH_BENEATH
    finally:
        os.close(fd)


def load_seccomp(seccomp_path: str | None) -> Any:
    """Import `pyseccomp` (and so libseccomp) while files are still readable; None when it is missing."""
    if seccomp_path:
        sys.path.insert(0, seccomp_path)
    try:
        import pyseccomp

        return pyseccomp
    except Exception:
        return None
    finally:
        if seccomp_path and sys.path and sys.path[0] == seccomp_path:
            sys.path.pop(0)


def seccomp(sc: Any) -> bool:
    """Install a filter: no fork/exec, no sockets at all, no ptrace or cross-process memory access, no
    namespace or mount changes, signals only to this process. `sc` is the module `load_seccomp` returned."""
    if sc is None:
        return False
    try:
        filt = sc.SyscallFilter(sc.ALLOW)
        eperm = sc.ERRNO(1)
        for name in ("fork", "vfork", "execve", "execveat", "socket", "socketpair", "ptrace",
                     "process_vm_readv", "process_vm_writev", "mount", "umount2", "unshare", "setns", "pivot_root",
                     "chroot", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
                     "kexec_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff"):
            filt.add_rule(eperm, name)
        filt.add_rule(sc.ERRNO(38), "clone3")  # ENOSYS: libc falls back to clone, filtered below
        clone_thread = 0x00010000
        filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, clone_thread, 0))
        pid = os.getpid()
        for name in ("kill", "tgkill"):
            filt.add_rule(eperm, name, sc.Arg(0, sc.NE, pid))
        filt.add_rule(eperm, "tkill")
        filt.load()
    except Exception:
        return False
    return True


# Audit events refused outright: process creation, sockets, native code, raising limits, signals.
_DENIED_PREFIXES = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                    "subprocess.", "pty.", "socket.", "ctypes.", "resource.setrlimit", "resource.prlimit",
                    "os.kill", "os.killpg", "signal.pthread_kill", "sys.remote_exec")
_DENIED_MODULES = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "cffi", "_cffi_backend", "pyseccomp"})
_PATH_EVENTS = frozenset({"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown", "os.link",
                          "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile",
                          "shutil.move", "os.chdir"})
# Listing is reading: allowed in the readable folders too, because the import system lists a package's folder
# before it can import a submodule (`urllib.parse`, `xml.etree`...).
_LIST_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def audit_hook(read_prefixes: Iterable[str], write_prefix: str) -> Callable[[str, tuple[Any, ...]], None]:
    """A hook refusing the audit events above, and file access outside the allowed folders."""
    reads = tuple(os.path.realpath(p) for p in read_prefixes)
    home = os.path.realpath(write_prefix)

    def inside(path: Any, prefixes: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        real = os.path.realpath(os.path.join(home, str(path)))
        return any(real == p or real.startswith(p.rstrip("/") + "/") for p in prefixes)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, 0))[:3]
            writing = bool(mode and any(c in str(mode) for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if not inside(path, (home,) if writing else (home, *reads)):
                raise PermissionError(f"access to {path!r} is not allowed in the code sandbox")
        elif event == "import":
            if args and args[0] in _DENIED_MODULES:
                raise ImportError(f"module {args[0]!r} is not allowed in the code sandbox")
        elif event.startswith(_DENIED_PREFIXES):
            raise PermissionError(f"{event} is not allowed in the code sandbox")
        elif event in _PATH_EVENTS and args and not inside(args[0], (home,)):
            raise PermissionError(f"{event} outside the sandbox folder is not allowed")
        elif event in _LIST_EVENTS and args and not inside(args[0] if args[0] is not None else ".", (home, *reads)):
            raise PermissionError(f"{event} outside the readable folders is not allowed")

    return hook
