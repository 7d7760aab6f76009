"""SQLAlchemy models. Models hold columns and relationships only: no queries, no request context."""

from app.models.apps import ApiKey, App, WorkflowVersion
from app.models.audit import AppBudget, AuditRecord, LlmCall
from app.models.base import Base
from app.models.chat import Conversation, ConversationVariable, Message
from app.models.datasets import Dataset, Document, DocumentSegment, UploadFile
from app.models.labels import (
    DatasetMetadataField,
    DatasetMetadataSettings,
    DocumentMetadataValue,
    MessageFeedback,
    Tag,
    TagBinding,
)
from app.models.queues import QueuePause, WorkerProcess
from app.models.runs import EndUser, NodeExecution, RunEvent, WorkflowRun
from app.models.tenancy import AdminToken, Workspace
from app.models.tools import ToolProviderRecord
from app.models.triggers import AppTrigger

__all__ = [
    "AdminToken",
    "ApiKey",
    "App",
    "AppBudget",
    "AppTrigger",
    "AuditRecord",
    "Base",
    "Dataset",
    "DatasetMetadataField",
    "DatasetMetadataSettings",
    "Document",
    "DocumentMetadataValue",
    "DocumentSegment",
    "Conversation",
    "ConversationVariable",
    "EndUser",
    "LlmCall",
    "Message",
    "MessageFeedback",
    "NodeExecution",
    "QueuePause",
    "RunEvent",
    "ToolProviderRecord",
    "Tag",
    "TagBinding",
    "UploadFile",
    "WorkerProcess",
    "WorkflowRun",
    "WorkflowVersion",
    "Workspace",
]
