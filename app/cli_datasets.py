"""`flask --app wsgi datasets import FOLDER`: bulk-load every supported file of a folder (recursively) into a
dataset of the default workspace, with a progress bar. Documents are queued for the workers; `--inline`
also indexes them in this process (the document claim makes it safe to run beside workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import NotFound
from app.rag.parsing import DOCUMENT_EXTENSIONS
from app.rag.splitting import ProcessRule


def _dataset_id(kb: Any, workspace_id: str, name: str, technique: str) -> str:
    rows, _ = kb.datasets.list(workspace_id, 1, 100, name)
    for row in rows:
        if row["name"] == name:
            return str(row["id"])
    return str(kb.datasets.create(workspace_id, {"name": name, "indexing_technique": technique})["id"])


def register_dataset_cli(app: Flask, container: Any) -> None:
    group = AppGroup("datasets", help="Knowledge-base commands.")

    @group.command("import")
    @click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--dataset", "name", help="Dataset name (created if missing); default: the folder's name.")
    @click.option("--indexing-technique", type=click.Choice(["high_quality", "economy"]), default="high_quality")
    @click.option("--inline", is_flag=True, help="Index in this process instead of waiting for a worker.")
    def import_folder(folder: Path, name: str | None, indexing_technique: str, inline: bool) -> None:
        """Import every txt, md, html, pdf, docx and csv file under FOLDER."""
        kb = container.knowledge
        workspace_id = container.accounts.default_workspace_id()
        dataset_id = _dataset_id(kb, workspace_id, name or folder.resolve().name, indexing_technique)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".")
                       in DOCUMENT_EXTENSIONS)
        failed = 0
        with click.progressbar(files, label=f"Importing {len(files)} files", item_show_func=lambda p:
                               p.name if p else None) as bar:
            for path in bar:
                stored = kb.files.upload(workspace_id, path.name, path.read_bytes(), None, "cli", documents_only=True)
                created = kb.documents.create(workspace_id, dataset_id, str(path.relative_to(folder)), stored,
                                              ProcessRule(), {})
                if inline:
                    kb.indexer.index(created["document"]["id"], "cli")
                    try:
                        detail = kb.documents.get(workspace_id, dataset_id, created["document"]["id"])
                        failed += detail["indexing_status"] == "error"
                    except NotFound:
                        failed += 1
        click.echo(f"dataset {dataset_id}: {len(files)} documents {'indexed' if inline else 'queued'}"
                   + (f", {failed} failed" if failed else ""))

    app.cli.add_command(group)
