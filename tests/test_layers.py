"""Layers only look down: an AST walk over every module fails on an import that points up.

api -> services -> engine -> providers (tools beside providers);
worker -> services/engine. `app/wiring.py` is the composition root
and may import anything; nothing else reads the environment (only the entry modules do)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package prefix -> prefixes it must never import
FORBIDDEN = {
    "app.engine": ("app.api", "app.services", "app.models", "app.wiring", "app.settings", "app.db", "worker",
                   "flask", "sqlalchemy", "redis", "huey", "app.tools"),
    # Tools sit beside providers: they see the engine's ports and the providers, never what is above them.
    "app.tools": ("app.api", "app.services", "app.models", "app.wiring", "app.settings", "app.db", "worker",
                  "flask", "sqlalchemy", "app.engine.runner"),
    "app.providers": ("app.api", "app.services", "app.wiring", "worker", "flask", "app.engine.runner"),
    "app.models": ("app.api", "app.services", "app.engine", "app.providers", "app.wiring", "worker", "flask"),
    "app.services": ("app.api", "app.wiring", "worker", "flask"),
    "app.rag": ("app.api", "app.wiring", "worker", "flask"),
    "app.api": ("worker",),
}
ENV_READERS = {
    "wsgi.py", "run.py", "worker/main.py", "infra/__main__.py", "gunicorn.conf.py",
    # The composition root resolves the API-key variables a provider routes file names.
    "app/wiring.py",
    # prometheus_client's multi-process mode is switched by its own PROMETHEUS_MULTIPROC_DIR contract.
    "app/metrics.py",
}


def modules() -> list[Path]:
    return [p for p in [*(ROOT / "app").rglob("*.py"), *(ROOT / "worker").rglob("*.py")]]


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_imports(path: Path) -> None:
    name = dotted(path)
    if name == "app.wiring":
        return
    tree = ast.parse(path.read_text())
    for layer, banned in FORBIDDEN.items():
        if name == layer or name.startswith(layer + "."):
            bad = [i for i in imports(tree) if any(i == b or i.startswith(b + ".") for b in banned)]
            assert not bad, f"{name} imports {bad}, above its layer {layer}"


def test_only_entry_modules_read_the_environment() -> None:
    offenders = []
    for path in modules():
        rel = str(path.relative_to(ROOT))
        if rel in ENV_READERS:
            continue
        text = path.read_text()
        if "os.environ" in text or "os.getenv" in text:
            offenders.append(rel)
    assert not offenders, f"read the environment outside the entry modules: {offenders}"
