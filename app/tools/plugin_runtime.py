"""Python environments plugins run in, built the way Dify's plugin daemon does: a virtualenv per set of
requirements (the package's `requirements.txt`, which names the `dify-plugin` SDK version it was written against),
made with a base interpreter the operator chooses (dify-plugin 0.10 needs Python >= 3.12).

Environments are shared by packages with identical requirements and the same base interpreter, kept under
`runtimes_dir/<hash>`, built once (a file lock serialises concurrent installs) and marked ready only when pip
succeeded. Building runs pip against the configured package index and is bounded by a timeout. This is an
install-time step: running a tool never installs anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

from app.errors import InvalidParam
from app.tools.plugin_package import PluginPackage

OUTPUT_TAIL = 1500


def runtime_key(package: PluginPackage, base_python: str) -> str:
    requirements = package.root / "requirements.txt"
    text = requirements.read_text(encoding="utf-8") if requirements.is_file() else ""
    lines = sorted(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    digest = hashlib.sha256("\n".join([str(Path(base_python).resolve()), *lines]).encode())
    return digest.hexdigest()[:16]


def ensure_runtime(package: PluginPackage, base_python: str, runtimes_dir: str | Path,
                   timeout: float = 900.0) -> str:
    """The interpreter of a ready environment for `package`, building it if needed. Idempotent. Raises
    InvalidParam when the base interpreter is unusable or pip fails (with the tail of pip's output)."""
    root = Path(runtimes_dir)
    root.mkdir(parents=True, exist_ok=True)
    key = runtime_key(package, base_python)
    venv = root / key
    python = venv / "bin" / "python"
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".ready").is_file():
            return str(python)
        building = root / f"{key}.building"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _run([base_python, "-m", "venv", str(building)], timeout, "creating the plugin environment")
            requirements = package.root / "requirements.txt"
            if requirements.is_file():
                _run([str(building / "bin" / "python"), "-m", "pip", "install", "--no-input",
                      "--disable-pip-version-check", "-r", str(requirements)], timeout,
                     "installing the plugin's requirements")
            shutil.rmtree(venv, ignore_errors=True)
            building.rename(venv)
            # A venv's scripts name its own folder; the interpreter link is what we use, and it moved intact.
            (venv / ".ready").write_text(package.plugin_id)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return str(python)


def _run(command: list[str], timeout: float, what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise InvalidParam(f"{what} failed: {command[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise InvalidParam(f"{what} took longer than {timeout:g}s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace").strip()[-OUTPUT_TAIL:]
        raise InvalidParam(f"{what} failed: {tail}")


def python_version(python: str) -> tuple[int, int]:
    """(major, minor) of an interpreter; (0, 0) when it cannot be run."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                             capture_output=True, timeout=20, check=True).stdout.split()
        return int(out[0]), int(out[1])
    return (0, 0)
