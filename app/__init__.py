"""Trellis: a self-hostable AI workflow platform with a Dify-compatible Service API.

`create_app(settings)` is the Flask app factory; importing this package does nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from app.settings import Settings
    from app.wiring import Container

__version__ = "0.1.0"


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    """Build the API. Without `settings` they are read from the environment (for `flask --app app`);
    without `container` the backends are built from the settings."""
    from app.api import register_api
    from app.cli import register_cli
    from app.settings import Settings
    from app.wiring import build

    settings = settings or (container.settings if container else Settings())
    container = container or build(settings)
    flask_app = Flask(__name__)
    flask_app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    flask_app.json.sort_keys = False  # type: ignore[attr-defined]
    flask_app.json.ensure_ascii = False  # type: ignore[attr-defined]
    flask_app.extensions["trellis"] = container
    register_api(flask_app)
    register_cli(flask_app)
    return flask_app
