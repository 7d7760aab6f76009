"""JSON responses on the run paths: the same bytes as `jsonify` under this app's settings (compact, keys in
order, UTF-8 as is), encoded by `app.providers.json_codec` (orjson) like the SSE frames of the same runs.
`jsonify` took about three times the CPU for a blocking run's body (issue 18). Numbers are written as in the
event stream: `1e-05` reads `1e-5`, the same value to any JSON reader."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.providers import json_codec


def json_response(body: Any, status: int = 200) -> Response:
    """`body` as an `application/json` response (a trailing newline, as `jsonify` writes)."""
    return Response(json_codec.dumps(body) + "\n", status=status, mimetype="application/json")
