"""The edge check on every request's text, before any view reads it: a JSON body nested too deep (the parser
would recurse past Python's limit) or holding NUL characters or lone surrogates, and query, form and path values
with the same characters, are refused with 400 `invalid_param`. Postgres cannot store a NUL, UTF-8 cannot encode
a lone surrogate; refused here, neither reaches a database or a worker."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.datastructures import MultiDict

from app.engine.data_limits import bad_text, check_tree
from app.errors import BadRequest, InvalidParam

MAX_JSON_DEPTH = 64


def check_request_text() -> None:
    """Raise InvalidParam (400) for unstorable text anywhere in the request, BadRequest for JSON too deep to
    parse. The parsed JSON is cached on the request, so views parse nothing twice."""
    mimetype = request.mimetype
    if mimetype != "multipart/form-data":
        # Keep the raw body: reading `request.form` below would otherwise consume a JSON body sent with a form
        # content type (curl's `-d`), which views still accept as JSON.
        request.get_data(cache=True)
    # Only what can hold values is parsed (issue 18): an empty query string, and the form of a JSON body (never
    # a form; its views read `get_json`), whose empty parse cost more than the rest of this check. Any other
    # body is form-parsed as before, which also leaves `request.stream` reading the cached body (the plugin
    # upload reads it so).
    if request.query_string:
        _check_values("query", request.args)
    if not request.is_json:
        _check_values("form", request.form)
        for name, upload in request.files.items(multi=True):
            if upload.filename and (reason := bad_text(upload.filename)):
                raise InvalidParam(f"file name {reason}", params=name)
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str) and (reason := bad_text(value)):
            raise InvalidParam(f"path parameter {key} {reason}", params=key)
    if request.is_json and request.content_length != 0:
        try:
            payload = request.get_json(silent=True)
        except RecursionError as exc:  # the JSON decoder recurses once per level
            raise BadRequest(f"Request body is nested deeper than {MAX_JSON_DEPTH} levels") from exc
        if payload is not None:
            check_tree(payload, "body", max_depth=MAX_JSON_DEPTH)


def _check_values(source: str, values: MultiDict[str, str]) -> None:
    for key, value in values.items(multi=True):
        reason = bad_text(key) or bad_text(value)
        if reason:
            raise InvalidParam(f"{source} parameter {key!r} {reason}", params=key)


def register_input_guard(app: Flask) -> None:
    app.before_request(check_request_text)
