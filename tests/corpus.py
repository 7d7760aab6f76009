"""Where the tests find the Dify export corpus (kept outside the project) and the project's own small DSL
fixtures that reproduce the corpus's patterns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_dir() -> Path:
    """DIFY_CORPUS_DIR, default `<repo>/../shared/dify-corpus`."""
    return Path(os.environ.get("DIFY_CORPUS_DIR") or ROOT.parent / "shared" / "dify-corpus")


def corpus_file(name: str) -> str:
    """The text of one corpus export; skips the test (with the reason) when the corpus is not on this machine."""
    path = corpus_dir() / name
    if not path.is_file():
        pytest.skip(f"Dify corpus file {name} not found under {corpus_dir()} (set DIFY_CORPUS_DIR)")
    return path.read_text(encoding="utf-8")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")
