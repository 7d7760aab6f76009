"""Every error leaves the API as Dify JSON `{"code", "message", "status"}`, rendered here and only here."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from werkzeug.exceptions import HTTPException

from app.errors import TrellisError

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "request_entity_too_large", 415: "unsupported_media_type",
              429: "too_many_requests"}


def render(code: str, message: str, status: int, **extra: object) -> Response:
    response = jsonify({"code": code, "message": message, "status": status, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if status in (429, 503):
        response.headers.setdefault("Retry-After", "1")
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TrellisError)
    def _domain(exc: TrellisError) -> Response:
        body = exc.to_dict()
        retry_after = body.pop("retry_after", None)
        response = render(body.pop("code"), body.pop("message"), body.pop("status"), **body)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(SQLAlchemyOperationalError)
    @app.errorhandler(RedisConnectionError)
    def _backend_down(exc: Exception) -> Response:
        # The database or Redis is unreachable: a retryable 503, never a 500 with a driver message.
        log.warning("backend unavailable", extra={"path": request.path, "error": type(exc).__name__})
        response = render("service_unavailable", "A backing service is temporarily unavailable; retry later.", 503)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = f"Request body exceeds the limit of {app.config['MAX_CONTENT_LENGTH']} bytes"
        return render(HTTP_CODES.get(status, "http_error"), message, status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return render("internal_server_error", "The server encountered an internal error.", 500)
