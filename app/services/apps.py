"""Apps and their workflow versions: import a Dify DSL (validated, then published at once), list, get,
update, delete. Every read is scoped by workspace."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.engine.dsl import WorkflowSpec, parse_dsl
from app.engine.graph import Graph, build_graph
from app.engine.ports import ToolRef
from app.errors import AppUnavailable, NotFound
from app.models import App, WorkflowVersion
from app.models.base import as_utc
from app.services import trigger_sync
from app.services.read_cache import ReadCache


@dataclass(frozen=True)
class AppView:
    id: str
    name: str
    mode: str
    description: str
    published_version_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    warnings: tuple[str, ...] = ()
    max_active_runs: int = 0  # 0: the deployment's default cap applies
    # Tools the app calls that this workspace cannot run yet (import reports them; only a run reaching one fails).
    missing_tools: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "mode": self.mode, "description": self.description,
                "published_version_id": self.published_version_id,
                "created_at": int(self.created_at.timestamp()) if self.created_at else None,
                "updated_at": int(self.updated_at.timestamp()) if self.updated_at else None}


@dataclass(frozen=True)
class PublishedWorkflow:
    app: AppView
    version_id: str
    graph: Graph
    features: dict[str, Any]


def _view(app: App) -> AppView:
    return AppView(app.id, app.name, app.mode, app.description, app.published_version_id,
                   as_utc(app.created_at), as_utc(app.updated_at), max_active_runs=app.max_active_runs or 0)


GRAPH_CACHE_SIZE = 256


class ToolCheck(Protocol):
    """The part of the tool registry an import needs (`app.tools.registry.ToolRegistry`)."""

    def problem(self, workspace_id: str, ref: ToolRef) -> str | None:
        """Why a run could not call `ref` in this workspace (`not_installed`, `credentials_missing`), or None."""
        ...


def missing_tools(graph: Graph, workspace_id: str, tools: ToolCheck | None) -> list[dict[str, str]]:
    """One entry per tool node (containers' bodies included) whose tool this workspace cannot run."""
    found: list[dict[str, str]] = []
    pending = list(graph.nodes.values())
    while pending:
        node = pending.pop(0)
        body = getattr(node, "body", None)
        if body is not None:
            pending.extend(body.nodes.values())
        for ref in node.tool_refs():
            reason = tools.problem(workspace_id, ref) if tools is not None else "not_installed"
            if reason:
                found.append({"node_id": node.id, "provider_type": ref.provider_type,
                              "provider_id": ref.provider_id, "provider_name": ref.provider_name,
                              "tool_name": ref.tool_name, "reason": reason})
    return found


def _remap_datasets(session: Session, workspace_id: str, workflow: WorkflowSpec, mapping: dict[str, str]) -> list[str]:
    from app.models.datasets import Dataset

    warnings: list[str] = []
    for node in workflow.graph.nodes:
        ids = node.data.get("dataset_ids") if node.type == "knowledge-retrieval" else None
        if not isinstance(ids, list) or not ids:
            continue
        wanted = [mapping.get(str(i), str(i)) for i in ids]
        owned = set(session.scalars(select(Dataset.id).where(Dataset.workspace_id == workspace_id,
                                                             Dataset.id.in_(wanted))))
        for dataset_id in wanted:
            if dataset_id not in owned:
                warnings.append(f"node {node.id}: dataset {dataset_id} does not exist in this workspace; removed")
        node.data["dataset_ids"] = [i for i in wanted if i in owned]
    return warnings


class Apps:
    def __init__(self, sessions: sessionmaker[Session], cache_seconds: float = 0.0,
                 tools: ToolCheck | None = None) -> None:
        self._sessions = sessions
        # Checks, at import, which tools the app calls are not installed here (reported, never refused).
        self.tools = tools
        # Each app's published workflow, per process, for `cache_seconds` (read before every run). Importing,
        # publishing or deleting here drops the entry at once; other processes see it within the TTL.
        self._apps: ReadCache[tuple[str, str], PublishedWorkflow] = ReadCache(cache_seconds)
        # Versions are immutable, so a parsed version is cached by id for the life of the process.
        self._versions: dict[str, PublishedWorkflow] = {}

    def import_dsl(self, workspace_id: str, text: str, app_id: str | None = None,
                   dataset_map: dict[str, str] | None = None) -> AppView:
        """Parse and validate DSL (InvalidParam on any problem, nothing written), then create the app (or a new
        version of `app_id`) and publish the version. Knowledge-retrieval dataset ids are first renamed through
        `dataset_map`; ids the workspace does not have are dropped, each with a warning (as Dify does).
        Nodes of unsupported types and tools this workspace lacks do not fail the import: the view lists them
        (`warnings`, `missing_tools`), and only a run that reaches one fails."""
        doc = parse_dsl(text)
        graph = build_graph(doc.workflow, doc.app.mode)
        missing = missing_tools(graph, workspace_id, self.tools)
        with transaction(self._sessions) as session:
            warnings = [*graph.warnings, *_remap_datasets(session, workspace_id, doc.workflow, dataset_map or {})]
            if app_id:
                app = self._get(session, workspace_id, app_id)
                app.name, app.description = doc.app.name, doc.app.description
            else:
                app = App(workspace_id=workspace_id, name=doc.app.name, mode=doc.app.mode,
                          description=doc.app.description, icon=doc.app.icon)
                session.add(app)
                session.flush()
            number = (session.scalar(select(func.max(WorkflowVersion.number))
                                     .where(WorkflowVersion.app_id == app.id)) or 0) + 1
            version = WorkflowVersion(app_id=app.id, number=number, status="published", dsl_version=doc.version,
                                      dsl=text, workflow=doc.workflow.model_dump(mode="json", by_alias=True))
            session.add(version)
            session.flush()
            app.published_version_id = version.id
            session.flush()
            trigger_sync.sync(session, workspace_id, app.id, graph)  # schedules and webhooks follow the new version
            view = replace(_view(app), warnings=tuple(warnings), missing_tools=tuple(missing))
        self._apps.forget((workspace_id, view.id))  # after the commit: the next read sees the new version
        return view

    @staticmethod
    def _get(session: Session, workspace_id: str, app_id: str) -> App:
        app = session.scalars(select(App).where(App.id == app_id, App.workspace_id == workspace_id)).first()
        if app is None:
            raise NotFound("App not found")
        return app

    def get(self, workspace_id: str, app_id: str) -> AppView:
        with self._sessions() as session:
            return _view(self._get(session, workspace_id, app_id))

    def list(self, workspace_id: str, page: int, limit: int) -> tuple[list[AppView], int]:
        with self._sessions() as session:
            total = session.scalar(select(func.count(App.id)).where(App.workspace_id == workspace_id)) or 0
            rows = session.scalars(select(App).where(App.workspace_id == workspace_id)
                                   .order_by(App.created_at.desc()).offset((page - 1) * limit).limit(limit))
            return [_view(a) for a in rows], total

    def delete(self, workspace_id: str, app_id: str) -> None:
        with transaction(self._sessions) as session:
            session.delete(self._get(session, workspace_id, app_id))
        self._apps.forget((workspace_id, app_id))

    def versions(self, workspace_id: str, app_id: str) -> list[dict[str, Any]]:
        with self._sessions() as session:
            self._get(session, workspace_id, app_id)
            rows = session.scalars(select(WorkflowVersion).where(WorkflowVersion.app_id == app_id)
                                   .order_by(WorkflowVersion.number.desc()))
            return [{"id": v.id, "number": v.number, "status": v.status, "dsl_version": v.dsl_version,
                     "created_at": int(as_utc(v.created_at).timestamp())} for v in rows]  # type: ignore[union-attr]

    def export_dsl(self, workspace_id: str, app_id: str) -> str:
        with self._sessions() as session:
            app = self._get(session, workspace_id, app_id)
            version = session.get(WorkflowVersion, app.published_version_id) if app.published_version_id else None
            if version is None:
                raise AppUnavailable()
            return version.dsl

    def published(self, workspace_id: str, app_id: str) -> PublishedWorkflow:
        """The app's published workflow: from the per-process cache, else one small query (versions never
        change, so a version's parsed graph is kept and its large row read only on first use)."""
        return self._apps.get_or_load((workspace_id, app_id), lambda: self._read_published(workspace_id, app_id))

    def _read_published(self, workspace_id: str, app_id: str) -> PublishedWorkflow:
        with self._sessions() as session:
            app = self._get(session, workspace_id, app_id)
            if not app.published_version_id:
                raise AppUnavailable()
            cached = self._versions.get(app.published_version_id)
            if cached is not None:
                return replace(cached, app=_view(app))
            version = session.get(WorkflowVersion, app.published_version_id)
            if version is None:
                raise AppUnavailable()
            return self._published(app, version)

    def version(self, version_id: str) -> PublishedWorkflow:
        """A specific version (the one a run was created with), for the worker; kept per process like the
        published one (a later renaming of the app does not matter to a run)."""
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        with self._sessions() as session:
            version = session.get(WorkflowVersion, version_id)
            if version is None:
                raise NotFound("Workflow version not found")
            app = session.get(App, version.app_id)
            assert app is not None
            return self._published(app, version)

    def _published(self, app: App, version: WorkflowVersion) -> PublishedWorkflow:
        if len(self._versions) >= GRAPH_CACHE_SIZE:
            self._versions.clear()  # rare: a process serving hundreds of versions re-parses on demand
        published = self._versions[version.id] = PublishedWorkflow(
            app=_view(app), version_id=version.id,
            graph=build_graph(WorkflowSpec.model_validate(version.workflow), app.mode),
            features=dict(version.workflow.get("features") or {}))
        return published
