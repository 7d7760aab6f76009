"""SQLAlchemy models. Models hold columns and relationships only: no queries, no request context."""

from app.models.apps import ApiKey, App, WorkflowVersion
from app.models.base import Base
from app.models.runs import EndUser, NodeExecution, RunEvent, WorkflowRun
from app.models.tenancy import AdminToken, Workspace

__all__ = [
    "AdminToken",
    "ApiKey",
    "App",
    "Base",
    "EndUser",
    "NodeExecution",
    "RunEvent",
    "WorkflowRun",
    "WorkflowVersion",
    "Workspace",
]
