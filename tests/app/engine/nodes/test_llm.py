"""`llm`: prompt rendering with context, streaming, usage."""

from __future__ import annotations

from app.engine.nodes.llm import context_as_text


def test_retrieval_results_become_context_paragraphs():
    chunks = [{"content": "Parcels delayed over 5 days are refunded.", "title": "policy.md", "metadata": {}},
              {"content": "Contact support by email.", "title": "contact.md", "metadata": {}}]
    assert context_as_text(chunks) == "Parcels delayed over 5 days are refunded.\nContact support by email."
    assert context_as_text("plain") == "plain"
    assert context_as_text(None) == ""
    assert context_as_text({"a": 1}) == '{"a": 1}'
