"""The Dify DSL document model: parse an exported YAML file into typed specs. Apps of the easy modes (chat,
completion, agent-chat) get the workflow equivalent to their `model_config` (see `app.engine.model_config`).

Real exports carry many UI-only keys (positions, sizes, selection flags); they are ignored, not rejected.
Environment and conversation variables are parsed here too, so the graph can seed `env.*` and
`conversation.*` and knows which environment values are secret.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.engine.data_limits import load_yaml
from app.engine.model_config import EASY_MODES, workflow_from_model_config
from app.errors import InvalidParam

SUPPORTED_MODES = ("workflow", "advanced-chat", *EASY_MODES)


class NodeSpec(BaseModel):
    """One node: its id and the raw `data` block; each node type parses `data` into its own model."""

    model_config = ConfigDict(extra="ignore")

    id: str
    data: dict[str, Any]
    parent_id: str | None = Field(default=None, alias="parentId")

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    @property
    def title(self) -> str:
        return str(self.data.get("title") or self.id)

    @property
    def container_id(self) -> str | None:
        """The iteration or loop this node belongs to, or None at top level. Exports mark children with
        `parentId` and, on most children, `data.isInIteration`/`iteration_id` (or the loop equivalents)."""
        if self.parent_id:
            return self.parent_id
        if self.data.get("isInIteration") and self.data.get("iteration_id"):
            return str(self.data["iteration_id"])
        if self.data.get("isInLoop") and self.data.get("loop_id"):
            return str(self.data["loop_id"])
        return None


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = ""
    source: str
    target: str
    source_handle: str = Field(default="source", alias="sourceHandle")

    @field_validator("source_handle", mode="before")
    @classmethod
    def _plain_handle(cls, value: Any) -> Any:
        # Older exports leave the handle null (or empty) for plain edges.
        return value or "source"


class GraphSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)


class EnvVariable(BaseModel):
    """`workflow.environment_variables[]`; `value_type` is string, number or secret (exports blank secrets).
    Other keys (`id`, `description`, ...) are kept so the stored workflow round-trips."""

    model_config = ConfigDict(extra="allow")

    name: str
    value: Any = None
    value_type: str = "string"

    @property
    def is_secret(self) -> bool:
        return self.value_type == "secret"


class ConversationVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    value: Any = None
    value_type: str = "string"


class WorkflowSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    graph: GraphSpec
    features: dict[str, Any] = Field(default_factory=dict)
    environment_variables: list[EnvVariable] = Field(default_factory=list)
    conversation_variables: list[ConversationVariable] = Field(default_factory=list)


class AppSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Lengths as the columns that store them (a longer value was a database error, a 500, on Postgres).
    name: str = Field(default="Untitled", max_length=255)
    mode: str = Field(default="workflow", max_length=32)
    description: str = ""
    icon: str = ""

    @field_validator("icon", mode="after")
    @classmethod
    def _short_icon(cls, value: str) -> str:
        return value[:255]  # UI-only: kept when it fits the column, else cut rather than refuse the import


class DslDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = Field(default="0.1.0", max_length=16)
    kind: str = "app"
    app: AppSpec
    workflow: WorkflowSpec


def parse_dsl(text: str) -> DslDocument:
    """Parse DSL YAML. Raises InvalidParam (400) for YAML that is not a Dify app export."""
    try:
        raw = load_yaml(text)  # bounded: depth, alias expansion, NUL and lone surrogates (issue 14)
    except yaml.YAMLError as exc:
        raise InvalidParam(f"DSL is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidParam("DSL must be a YAML mapping with `app` and `workflow` keys")
    app = raw.get("app")
    mode = app.get("mode") if isinstance(app, dict) else None
    if not raw.get("workflow") and mode in EASY_MODES and isinstance(raw.get("model_config"), dict):
        # chat, completion and agent-chat apps carry a model_config instead; they run as its equivalent graph.
        try:
            raw = {**raw, "workflow": workflow_from_model_config(str(mode), raw["model_config"])}
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidParam(f"DSL model_config is malformed: {type(exc).__name__}: {exc}",
                               params="model_config") from exc
    if "workflow" not in raw:
        raise InvalidParam("DSL has no `workflow` section (or, for chat, completion and agent-chat apps, no "
                           "`model_config`)")
    try:
        doc = DslDocument.model_validate(raw)
    except ValidationError as exc:
        raise InvalidParam(f"DSL does not match the Dify schema: {exc.errors()[0]['msg']}",
                           params=".".join(str(p) for p in exc.errors()[0]["loc"])) from exc
    if doc.app.mode not in SUPPORTED_MODES:
        raise InvalidParam(f"App mode {doc.app.mode!r} is not supported; expected one of {', '.join(SUPPORTED_MODES)}")
    return doc
