"""Where the tests find the public Dify exports that live outside this repository.

The project's own tests read the DSL documents in `tests/fixtures/dsl/`. The public exports (Dify's own test
fixtures and community workflows, kept unchanged in a folder beside the repository) are compatibility checks on
top: they are found through one setting, `DIFY_CORPUS_DIR` (default `<repo>/../shared/dify-corpus`), with the
exported DSL files in its sibling `dify-dsl` (or wherever `DIFY_DSL_DIR` points). When the default folder is
absent the tests that need it skip and say which variable to set. When a variable is set (CI sets it), a missing
file fails the test instead: a wrong setting must not pass as a skip."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    """The folder of public Dify workflow exports (`DIFY_CORPUS_DIR`)."""
    return Path(os.environ.get("DIFY_CORPUS_DIR") or REPO.parent / "shared" / "dify-corpus")


def corpus_missing() -> str | None:
    """Why the corpus tests skip (the default folder is absent), or None when they run. A set DIFY_CORPUS_DIR
    never skips: the tests run and fail on a wrong folder."""
    if corpus_dir().is_dir() or os.environ.get("DIFY_CORPUS_DIR"):
        return None
    return (f"the Dify corpus is not at {corpus_dir()}; set DIFY_CORPUS_DIR to the folder of public exports to run "
            "this compatibility test")


def needs_corpus() -> pytest.MarkDecorator:
    """A skip mark for the tests that walk the corpus (see `corpus_missing`)."""
    reason = corpus_missing()
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def corpus_exports(match: str | re.Pattern[str] | None = None) -> list[Path]:
    """The corpus's `*.yml` exports whose text contains `match` (a substring or a compiled pattern), sorted;
    empty when the folder is absent. Safe at collection time (parametrize lists)."""
    folder = corpus_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if match is None or (match.search(text) if isinstance(match, re.Pattern) else match in text):
            found.append(path)
    return found


def dsl_dir() -> Path:
    """The folder of public Dify exports the compatibility tests run (`DIFY_DSL_DIR`, else beside the corpus)."""
    return Path(os.environ.get("DIFY_DSL_DIR") or corpus_dir().parent / "dify-dsl")


def public_export(name: str) -> str:
    """The text of one public export, or a skip naming the setting when the folder is not there."""
    path = dsl_dir() / name
    if not path.is_file():
        if os.environ.get("DIFY_DSL_DIR") or os.environ.get("DIFY_CORPUS_DIR"):
            pytest.fail(f"public Dify export {name} not found in {dsl_dir()} (from DIFY_DSL_DIR/DIFY_CORPUS_DIR)")
        pytest.skip(f"public Dify export {name} not found in {dsl_dir()}; set DIFY_DSL_DIR or DIFY_CORPUS_DIR "
                    "to the folder of shared exports to run this compatibility test")
    return path.read_text(encoding="utf-8")


ROOT = REPO
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_file(name: str) -> str:
    """The text of one corpus export; skips (with the setting to use) when the corpus is not on this machine,
    fails when DIFY_CORPUS_DIR is set but the file is not there."""
    path = corpus_dir() / name
    if not path.is_file():
        if os.environ.get("DIFY_CORPUS_DIR"):
            pytest.fail(f"Dify corpus file {name} not found in {corpus_dir()} (from DIFY_CORPUS_DIR)")
        pytest.skip(f"Dify corpus file {name} not found under {corpus_dir()} (set DIFY_CORPUS_DIR)")
    return path.read_text(encoding="utf-8")


def fixture(name: str) -> str:
    """One of the project's own DSL documents in tests/fixtures/."""
    return (FIXTURES / name).read_text(encoding="utf-8")
