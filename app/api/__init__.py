"""HTTP layer: blueprints and the single error renderer. Views parse requests into typed values, call a
service and serialize the result; they never touch a database session."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.wiring import Container


def container() -> Container:
    return current_app.extensions["trellis"]  # type: ignore[no-any-return]


def register_api(app: Flask) -> None:
    from app.api.app_profile import app_profile
    from app.api.auth import register_auth_guard
    from app.api.chat import chat
    from app.api.console import console
    from app.api.dataset_labels import dataset_labels
    from app.api.datasets import datasets
    from app.api.errors import register_error_handlers
    from app.api.feedback import feedback
    from app.api.files import files
    from app.api.input_guard import register_input_guard
    from app.api.manage import manage
    from app.api.manage_datasets import manage_datasets
    from app.api.manage_tools import manage_tools
    from app.api.observability import register_observability
    from app.api.openapi import openapi
    from app.api.operations import operations
    from app.api.ops import ops
    from app.api.service import service
    from app.api.triggers import app_triggers, webhooks

    register_error_handlers(app)
    register_observability(app)  # first: request id, metrics, audit and the budget gate wrap everything below
    register_auth_guard(app)  # failed-authentication counting per client IP (429 after too many)

    @app.before_request
    def _reject_oversized_bodies() -> None:
        # Refuse a declared oversize body before auth or parsing reads any of it.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and limit and request.content_length > limit:
            raise RequestEntityTooLarge()

    register_input_guard(app)  # after the size check: NUL, lone surrogates and deep JSON are 400 (issue 14)

    app.register_blueprint(ops)
    app.register_blueprint(service, url_prefix="/v1")
    app.register_blueprint(chat, url_prefix="/v1")
    app.register_blueprint(datasets, url_prefix="/v1")
    app.register_blueprint(files, url_prefix="/v1")
    app.register_blueprint(feedback, url_prefix="/v1")
    app.register_blueprint(app_profile, url_prefix="/v1")
    app.register_blueprint(dataset_labels, url_prefix="/v1")
    app.register_blueprint(openapi, url_prefix="/v1")
    app.register_blueprint(manage, url_prefix="/manage/v1")
    app.register_blueprint(manage_datasets, url_prefix="/manage/v1")
    app.register_blueprint(manage_tools, url_prefix="/manage/v1")
    app.register_blueprint(operations, url_prefix="/manage/v1")
    app.register_blueprint(console, url_prefix="/manage/console")
    app.register_blueprint(webhooks)
    app.register_blueprint(app_triggers, url_prefix="/manage/v1")
