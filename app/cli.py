"""`flask --app wsgi ...` commands: schema upgrade, DSL import, key creation, admin token."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from app.db import upgrade_schema


def register_cli(app: Flask) -> None:
    from app.cli_datasets import register_dataset_cli
    from app.cli_tasks import register_tasks_cli

    container = app.extensions["trellis"]
    register_dataset_cli(app, container)
    register_tasks_cli(app, container)

    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Bring the database schema up to date (Alembic heads)."""
        upgrade_schema(container.settings.sqlalchemy_url)
        click.echo("schema up to date")

    @app.cli.command("import-dsl")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--with-key", is_flag=True, help="Also create an app- API key and print it.")
    def import_dsl(path: Path, with_key: bool) -> None:
        """Import a Dify DSL file into the default workspace and publish it."""
        workspace_id = container.accounts.default_workspace_id()
        app_view = container.apps.import_dsl(workspace_id, path.read_text(encoding="utf-8"))
        click.echo(f"app {app_view.id} ({app_view.mode}) {app_view.name}")
        if with_key:
            _, token = container.accounts.create_app_key(workspace_id, app_view.id)
            click.echo(f"api key {token}")

    @app.cli.command("create-key")
    @click.argument("app_id")
    def create_key(app_id: str) -> None:
        """Create an app- API key for an app of the default workspace."""
        _, token = container.accounts.create_app_key(container.accounts.default_workspace_id(), app_id)
        click.echo(token)
