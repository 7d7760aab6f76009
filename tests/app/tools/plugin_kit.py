"""What the plugin tests share: the base interpreter plugin runtimes are built with, the machine's cache of
runtimes (built once, reused by every test and every stack), and the fixture plugin packed as a `.difypkg`.

The dify-plugin SDK (0.10) needs Python >= 3.12 while Trellis runs on 3.11. The base interpreter is
`TRELLIS_PLUGIN_PYTHON`, else python3.13 or python3.12 on PATH or in pyenv; `base_python` skips without one."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from app.tools import plugin
from app.tools.plugin_runtime import python_version

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "plugins" / "trellis_echo"
PROVIDER_ID = "trellis/trellis_echo/trellis_echo"


def find_base_python() -> str | None:
    candidates = [os.environ.get("TRELLIS_PLUGIN_PYTHON", ""), shutil.which("python3.13") or "",
                  shutil.which("python3.12") or ""]
    candidates += sorted(str(p) for p in (Path.home() / ".pyenv" / "versions").glob("3.1[2-9]*/bin/python3"))
    return next((c for c in candidates if c and python_version(c) >= plugin.MIN_PYTHON), None)


def base_python() -> str:
    """The base interpreter, or a skip saying how to provide one."""
    found = find_base_python()
    if found is None:
        pytest.skip("no Python >= 3.12 for the dify-plugin SDK (set TRELLIS_PLUGIN_PYTHON)")
    return found


def runtimes_cache() -> Path:
    """Plugin runtime environments in the user's cache folder, so fresh clones and test stacks reuse them."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trellis" / "plugin-runtimes"


def difypkg(target: Path) -> Path:
    """The fixture plugin zipped as a `.difypkg` at `target`."""
    with zipfile.ZipFile(target, "w") as bundle:
        for path in FIXTURE.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and ".venv" not in path.parts:
                bundle.write(path, path.relative_to(FIXTURE).as_posix())
    return target
