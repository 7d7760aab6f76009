"""Dify's process rules and the splitter that applies them.

`automatic` mode: remove extra spaces, split on "\\n", at most 500 tokens per segment, 50 tokens of overlap.
`custom` mode: the caller's `separator` (escaped "\\n" is understood), `max_tokens` (50..4000) and
`chunk_overlap`. Each piece between separators is a segment; a piece longer than `max_tokens` is split again on
paragraph, sentence, word and finally character boundaries, and those parts are merged up to `max_tokens`,
each new segment starting with up to `chunk_overlap` tokens of the previous one.

Token counts are estimated without a tokenizer download: a word counts one token per four characters
(rounded up), each CJK character and each punctuation mark one token; this tracks GPT BPE counts of English
prose within about 15%.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.rag.cleaning import clean

TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+|[^\w\s]", re.UNICODE)
FALLBACK_SEPARATORS = ("\n\n", "\n", "。", ". ", "! ", "? ", "; ", ", ", " ", "")
MAX_SEGMENT_TOKENS = 4000


def count_tokens(text: str) -> int:
    return sum(math.ceil(len(t) / 4) if len(t) > 1 else 1 for t in TOKEN.findall(text))


class PreProcessingRule(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Literal["remove_extra_spaces", "remove_urls_emails"]
    enabled: bool = False


class Segmentation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    separator: str = "\n"
    max_tokens: int = Field(default=500, ge=50, le=MAX_SEGMENT_TOKENS)
    chunk_overlap: int = Field(default=50, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _default_overlap(cls, data: Any) -> Any:
        # An omitted overlap is 10% of max_tokens, at most Dify's 50, so a small max_tokens alone stays valid.
        if isinstance(data, dict) and data.get("chunk_overlap") is None and data.get("max_tokens") is not None:
            data = {**data, "chunk_overlap": min(50, int(data["max_tokens"]) // 10)}
        return data

    @field_validator("separator")
    @classmethod
    def _unescape(cls, value: str) -> str:
        # Dify's UI sends the two characters "\n"; the API may send either form.
        return value.replace("\\n", "\n").replace("\\t", "\t")

    @model_validator(mode="after")
    def _overlap_below_max(self) -> Segmentation:
        if self.chunk_overlap >= self.max_tokens:
            raise ValueError("chunk_overlap must be smaller than max_tokens")
        return self


class Rules(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pre_processing_rules: list[PreProcessingRule] = Field(default_factory=list)
    segmentation: Segmentation = Field(default_factory=Segmentation)


AUTOMATIC_RULES = Rules(pre_processing_rules=[PreProcessingRule(id="remove_extra_spaces", enabled=True),
                                              PreProcessingRule(id="remove_urls_emails", enabled=False)],
                        segmentation=Segmentation(separator="\n", max_tokens=500, chunk_overlap=50))


class ProcessRule(BaseModel):
    """Dify's `process_rule` body: `{"mode": "automatic"}` or `{"mode": "custom", "rules": {...}}`."""

    model_config = ConfigDict(extra="ignore")

    mode: Literal["automatic", "custom", "hierarchical"] = "automatic"
    rules: Rules | None = None

    def effective(self) -> Rules:
        return AUTOMATIC_RULES if self.mode == "automatic" or self.rules is None else self.rules

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "rules": self.effective().model_dump()}


@dataclass(frozen=True)
class Chunk:
    content: str
    tokens: int
    position: int
    keywords: list[str] = field(default_factory=list)


def _pieces(text: str, separator: str) -> list[str]:
    if separator == "":
        return list(text)
    parts = text.split(separator)
    # Keep sentence punctuation with its sentence; the whitespace part comes back as the joiner.
    if separator.strip():
        return [p + separator.rstrip() if i < len(parts) - 1 else p for i, p in enumerate(parts)]
    return parts


def _joiner(separator: str) -> str:
    """What goes between two pieces split on `separator` when they end up in one segment."""
    if separator == "" or not separator.strip():
        return separator
    tail = separator[len(separator.rstrip()):]
    return tail or ("" if len(separator) == 1 and not separator.isascii() else "\n")


Atom = tuple[str, str]  # (text, joiner placed before it when merged after another atom)


def _recursive(text: str, joiner: str, max_tokens: int, separators: tuple[str, ...]) -> list[Atom]:
    if count_tokens(text) <= max_tokens:
        return [(text, joiner)]
    for i, sep in enumerate(separators):
        if sep == "" or sep in text:
            out: list[Atom] = []
            inner = _joiner(sep)
            for n, piece in enumerate(_pieces(text, sep)):
                if piece.strip():
                    first = joiner if n == 0 else inner
                    out.extend(_recursive(piece.strip(), first, max_tokens, separators[i + 1:]) if sep
                               else [(piece, first)])
            return out
    return [(text, joiner)]


def _merge(atoms: list[Atom], max_tokens: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[Atom] = []
    sizes: list[int] = []

    def text() -> str:
        return "".join((j if k else "") + t for k, (t, j) in enumerate(current)).strip()

    for atom in atoms:
        size = count_tokens(atom[0])
        if current and sum(sizes) + size > max_tokens:
            chunks.append(text())
            # Carry the tail of the finished segment forward, up to `overlap` tokens, as Dify does.
            while current and (sum(sizes) > overlap or sum(sizes) + size > max_tokens):
                current.pop(0)
                sizes.pop(0)
        current.append(atom)
        sizes.append(size)
    if current:
        chunks.append(text())
    return [c for c in chunks if c]


def split(text: str, segmentation: Segmentation) -> list[str]:
    """Segments of `text` under `segmentation`, in order, none longer than `max_tokens` (estimated). As in
    Dify, every piece between two separators is its own segment; only a piece longer than `max_tokens` is split
    further, and its parts are merged back up to `max_tokens` with `chunk_overlap`."""
    sep = segmentation.separator
    segments: list[str] = []
    for piece in (text.split(sep) if sep else [text]):
        piece = piece.strip()
        if not piece:
            continue
        if count_tokens(piece) <= segmentation.max_tokens:
            segments.append(piece)
        else:
            atoms = _recursive(piece, "", segmentation.max_tokens, FALLBACK_SEPARATORS)
            segments.extend(_merge(atoms, segmentation.max_tokens, segmentation.chunk_overlap))
    return segments


def chunk_text(text: str, rule: ProcessRule) -> list[Chunk]:
    """Clean and split `text` under `rule`; positions start at 1 as Dify's."""
    from app.rag.keywords import extract

    rules = rule.effective()
    enabled = [r.id for r in rules.pre_processing_rules if r.enabled]
    pieces = split(clean(text, enabled), rules.segmentation)
    return [Chunk(content=p, tokens=count_tokens(p), position=i, keywords=extract(p))
            for i, p in enumerate(pieces, start=1)]
