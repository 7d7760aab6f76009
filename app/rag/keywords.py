"""Keywords of a text (Dify's economy index and `keyword_search`): lowercase words that are not stop words,
ranked by frequency. Pure functions."""

from __future__ import annotations

import re
from collections import Counter

from app.providers.embeddings import STOP_WORDS

WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


def extract(text: str, limit: int = 10) -> list[str]:
    """Up to `limit` keywords, most frequent first (ties keep their first appearance)."""
    return [w for w, _ in Counter(words(text)).most_common(limit)]
