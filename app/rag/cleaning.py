"""Dify's pre-processing rules: invalid characters always go; `remove_extra_spaces` collapses runs of blank
lines and spaces; `remove_urls_emails` deletes URLs and e-mail addresses. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable

INVALID = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\uFFFE\uFFFF]")
BLANK_LINES = re.compile(r"\n{3,}")
SPACES = re.compile(r"[\t\f\r\x20\u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
URL = re.compile(r"https?://[^\s)\]>\"']+")


def clean(text: str, enabled_rules: Iterable[str] = ("remove_extra_spaces",)) -> str:
    rules = set(enabled_rules)
    # Dify strips its own prompt markers so a document cannot smuggle special tokens into a prompt.
    text = INVALID.sub("", text.replace("<|", "<").replace("|>", ">"))
    if "remove_urls_emails" in rules:  # first, so the spaces they leave behind are collapsed too
        text = EMAIL.sub("", text)
        text = URL.sub("", text)
    if "remove_extra_spaces" in rules:
        text = BLANK_LINES.sub("\n\n", text)
        text = SPACES.sub(" ", text)
    return text.strip()
