"""tests/corpus.py: the public exports are found through DIFY_CORPUS_DIR / DIFY_DSL_DIR; absent by default they
skip, absent where a variable points they fail."""

from __future__ import annotations

import os
import re

import pytest

from tests import corpus


def test_the_dsl_folder_follows_the_corpus_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("DIFY_DSL_DIR", raising=False)
    monkeypatch.setenv("DIFY_CORPUS_DIR", str(tmp_path / "dify-corpus"))
    assert corpus.corpus_dir() == tmp_path / "dify-corpus" and corpus.dsl_dir() == tmp_path / "dify-dsl"
    (tmp_path / "dify-dsl").mkdir()
    (tmp_path / "dify-dsl" / "a.yml").write_text("kind: app\n")
    assert corpus.public_export("a.yml") == "kind: app\n"
    monkeypatch.setenv("DIFY_DSL_DIR", str(tmp_path / "elsewhere"))
    assert corpus.dsl_dir() == tmp_path / "elsewhere"


def test_absent_by_default_skips_with_the_setting_to_use(monkeypatch, tmp_path):
    monkeypatch.delenv("DIFY_DSL_DIR", raising=False)
    monkeypatch.delenv("DIFY_CORPUS_DIR", raising=False)
    monkeypatch.setattr(corpus, "REPO", tmp_path / "repo")
    with pytest.raises(pytest.skip.Exception, match="DIFY_CORPUS_DIR"):
        corpus.public_export("a.yml")


def test_absent_where_a_setting_points_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFY_CORPUS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match="not found"):
        corpus.public_export("a.yml")


def test_a_set_corpus_setting_names_a_folder():
    """The corpus walks never skip when DIFY_CORPUS_DIR is set, so a wrong folder must fail here, not pass as an
    empty walk."""
    if os.environ.get("DIFY_CORPUS_DIR"):
        assert corpus.corpus_dir().is_dir(), f"DIFY_CORPUS_DIR={corpus.corpus_dir()} is not a folder"


def test_exports_are_filtered_by_text_and_skip_only_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFY_CORPUS_DIR", str(tmp_path))
    (tmp_path / "a.yml").write_text("  mode: chat\n")
    (tmp_path / "b.yml").write_text("type: tool\n")
    assert corpus.corpus_exports() == [tmp_path / "a.yml", tmp_path / "b.yml"]
    assert corpus.corpus_exports("type: tool") == [tmp_path / "b.yml"]
    assert corpus.corpus_exports(re.compile(r"mode: (chat|x)")) == [tmp_path / "a.yml"]
    monkeypatch.setenv("DIFY_CORPUS_DIR", str(tmp_path / "nowhere"))
    assert corpus.corpus_missing() is None and corpus.corpus_exports() == []
    monkeypatch.delenv("DIFY_CORPUS_DIR")
    monkeypatch.setattr(corpus, "REPO", tmp_path / "repo")
    assert "DIFY_CORPUS_DIR" in (corpus.corpus_missing() or "")
