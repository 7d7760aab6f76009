"""Clean up after code-sandbox children whose worker died without cleaning up (SIGKILL, OOM kill).

A child dies with its worker (parent-death signal, see `sandbox_child`), but its working folder stays, and a
child that escaped the signal (it was being confined at that instant) would run on. Each folder is named
`trellis-sbx-<worker pid>-<random>`; `reap_leftovers` removes the folders whose worker is gone, or that are older
than any live execution can be, after killing every process still working in them. Safe to run in every worker
at any time: a folder in use by a live worker within its wall-clock limit is never touched. Linux only (reads
/proc); elsewhere it removes old folders only. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.providers.sandbox import FOLDER_PREFIX


@dataclass(frozen=True)
class Reaped:
    folders: int
    processes: int


def _owner_alive(folder: Path) -> bool:
    owner = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
    if not owner.isdigit():
        return False  # an older folder name without its owner: judged by age alone
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _processes_in(folders: set[str]) -> dict[str, list[int]]:
    """Pids whose working folder is one of `folders` (the sandbox child runs in its folder)."""
    found: dict[str, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
            if cwd in folders:
                found.setdefault(cwd, []).append(int(entry.name))
    return found


def reap_leftovers(work_root: str | None = None, max_age_seconds: float = 300.0) -> Reaped:
    """Kill the processes in, then remove, every sandbox folder under `work_root` (default: the temp folder)
    whose worker is dead or that is older than `max_age_seconds`. Returns what it removed and killed."""
    root = Path(work_root or tempfile.gettempdir())
    now = time.time()
    stale = set()
    for folder in root.glob(f"{FOLDER_PREFIX}*"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and (not _owner_alive(folder) or now - folder.stat().st_mtime > max_age_seconds):
                stale.add(os.path.realpath(folder))
    if not stale:
        return Reaped(folders=0, processes=0)
    killed = 0
    for pids in _processes_in(stale).values():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # the child leads its own process group
                killed += 1
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return Reaped(folders=len(stale), processes=killed)
