"""Dify's process rules: cleaning, automatic and custom segmentation, overlap and limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.rag.cleaning import clean
from app.rag.splitting import ProcessRule, Segmentation, chunk_text, count_tokens, split


def test_cleaning_rules():
    text = "Hello\x00  <|world|>\n\n\n\nMail me at a.b@example.com or see https://example.com/x ok"
    assert clean(text, []) == "Hello  <world>\n\n\n\nMail me at a.b@example.com or see https://example.com/x ok"
    assert clean(text) == "Hello <world>\n\nMail me at a.b@example.com or see https://example.com/x ok"
    assert clean(text, ["remove_extra_spaces", "remove_urls_emails"]) == "Hello <world>\n\nMail me at or see ok"


def test_automatic_rule_splits_on_newlines_and_removes_extra_spaces():
    chunks = chunk_text("First   line\n\n\nSecond line", ProcessRule(mode="automatic"))
    assert [c.content for c in chunks] == ["First line", "Second line"]
    assert [c.position for c in chunks] == [1, 2] and chunks[0].keywords == ["first", "line"]
    assert ProcessRule().to_dict()["rules"]["segmentation"] == {"separator": "\n", "max_tokens": 500,
                                                                 "chunk_overlap": 50}


def test_custom_separator_is_unescaped_and_each_piece_is_a_segment():
    rule = ProcessRule.model_validate({"mode": "custom", "rules": {"pre_processing_rules": [
        {"id": "remove_extra_spaces", "enabled": True}], "segmentation": {"separator": "\\n\\n", "max_tokens": 50}}})
    assert [c.content for c in chunk_text("a b\nc\n\nd", rule)] == ["a b\nc", "d"]


def test_long_pieces_are_split_under_max_tokens_with_overlap():
    sentences = [f"Sentence number {i} talks about shipping." for i in range(60)]
    parts = split(" ".join(sentences), Segmentation(separator="\n", max_tokens=60, chunk_overlap=15))
    assert len(parts) > 5 and all(count_tokens(p) <= 60 for p in parts)
    assert parts[0].startswith("Sentence number 0 ")
    # The next segment starts with the tail of the previous one (the overlap), never mid-word.
    tail = parts[0].split(". ")[-1].rstrip(".")
    assert parts[1].startswith(tail)
    without = split(" ".join(sentences), Segmentation(separator="\n", max_tokens=60, chunk_overlap=0))
    assert sum(len(p) for p in without) < sum(len(p) for p in parts)
    assert "".join(without).replace(" ", "") == "".join(sentences).replace(" ", "")


def test_unbreakable_text_is_cut_by_characters():
    parts = split("x" * 1000, Segmentation(max_tokens=50, chunk_overlap=0))
    assert all(count_tokens(p) <= 50 for p in parts) and "".join(parts) == "x" * 1000


def test_limits_are_validated():
    with pytest.raises(ValidationError):
        Segmentation(max_tokens=10)
    with pytest.raises(ValidationError):
        Segmentation(max_tokens=100, chunk_overlap=100)
    assert count_tokens("Hello, world! 你好") == 8  # Hello=2 ,=1 world=2 !=1 你=1 好=1
