"""Issue 14, attack 6: a code node sleeping in a loop, its worker SIGKILLed: the sandbox child ran on with
parent PID 1, past its wall limit, and its `/tmp/trellis-sbx-*` folder stayed. The child must die with its
worker, and a reaper must remove what a dead worker left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app.providers.sandbox_reaper import reap_leftovers

ROOT = Path(__file__).resolve().parents[3]

WORKER = textwrap.dedent("""
    import sys
    from app.providers.sandbox import ProcessSandbox, SandboxLimits
    sandbox = ProcessSandbox(SandboxLimits(wall_seconds=60, cpu_seconds=30), work_root=sys.argv[1])
    sandbox.run("python3", "def main():\\n    import time\\n    while True:\\n        time.sleep(0.05)\\n", {})
""")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_the_child_dies_with_its_sigkilled_worker_and_the_reaper_removes_its_folder(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert _wait_for(lambda: bool(_children(worker.pid)) and any(tmp_path.iterdir()), 20), "no sandbox child"
        time.sleep(0.5)  # let the child confine itself and start its loop
        child = _children(worker.pid)[0]
        folder = next(tmp_path.iterdir())
        assert folder.name.startswith(f"trellis-sbx-{worker.pid}-")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert _wait_for(lambda: not _alive(child), 5), "the sandbox child outlived its worker"
        assert folder.exists()  # nobody cleaned up: the worker died mid-execution
        reaped = reap_leftovers(str(tmp_path), max_age_seconds=3600)
        assert reaped.folders == 1 and not folder.exists()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_the_reaper_kills_a_process_left_in_a_dead_workers_folder_and_spares_live_ones(tmp_path):
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    stale = tmp_path / f"trellis-sbx-{dead_owner.pid}-abc"
    live = tmp_path / f"trellis-sbx-{os.getpid()}-def"
    old = tmp_path / f"trellis-sbx-{os.getpid()}-old"
    for folder in (stale, live, old):
        folder.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    # A straggler still running in the dead worker's folder, in its own process group like a sandbox child.
    straggler = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=stale,
                                 start_new_session=True)
    try:
        time.sleep(0.2)
        reaped = reap_leftovers(str(tmp_path), max_age_seconds=3600)
        assert reaped.folders == 2 and reaped.processes >= 1
        assert straggler.wait(timeout=5) == -signal.SIGKILL
        assert live.exists() and not stale.exists() and not old.exists()
    finally:
        if straggler.poll() is None:
            straggler.kill()
            straggler.wait()
