"""The JSON encoding of what crosses a wire once per event or token: run events into the event log, SSE frames to
clients, chunks parsed from a model's stream.

orjson does it several times faster than the standard library. Output is UTF-8 as is (what
`json.dumps(..., ensure_ascii=False)` gave), compact (no space after `,` and `:`, which no JSON reader sees).
What orjson refuses and the standard library took (integers beyond 64 bits, lone surrogates, NaN in input)
falls back to the standard library, so no payload that encoded or parsed before fails now. One difference: a
NaN or infinite float is written `null` (the standard library wrote `NaN`, which strict JSON readers reject)."""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """`value` as a JSON string, non-ASCII characters kept as they are."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError: a type or value orjson does not take
        return json.dumps(value, ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """The value of the JSON document `text`; raises ValueError when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
