"""What the engine needs from the outside world, as protocols. The worker hands in real implementations;
tests hand in small in-memory ones. No implementation lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.engine.state import NodeRecord


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for: `arguments` is the JSON text the model wrote (not yet parsed, since
    models do write broken JSON and the caller decides what to do about it)."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str
    # An assistant turn that called tools carries the calls; a `tool` turn answers the call `tool_call_id`.
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class LLMRequest:
    provider: str
    model: str
    messages: tuple[ChatMessage, ...]
    mode: str = "chat"  # chat | completion
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    # OpenAI function specs (`{"type": "function", "function": {name, description, parameters}}`) the model may
    # call, and `tool_choice` ("auto", "none", "required" or a named function); empty = no tool calling.
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None


@dataclass(frozen=True)
class LLMUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class LLMResult:
    text: str
    usage: LLMUsage
    finish_reason: str = "stop"
    model: str = ""
    tool_calls: tuple[ToolCall, ...] = ()  # the calls the model asked for (finish_reason "tool_calls")


class LLMGateway(Protocol):
    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        """Run one completion, streaming text deltas to `on_delta`; with `request.tools`, the calls the model asks
        for come back whole in `LLMResult.tool_calls`. Raises ProviderNotInitialize when the provider has no
        endpoint, ProviderRequestError when the call fails."""
        ...


class KnowledgeRetriever(Protocol):
    def retrieve(self, workspace_id: str, dataset_ids: list[str], query: str, top_k: int,
                 score_threshold: float | None, search_method: str) -> list[dict[str, Any]]:
        """Chunks for `query` from the given datasets, best first, in Dify's retrieval-result shape
        (`content`, `title`, `metadata{...score, dataset_id, document_id...}`)."""
        ...


class NoRetriever:
    """Until a knowledge base is configured, retrieval finds nothing."""

    def retrieve(self, workspace_id: str, dataset_ids: list[str], query: str, top_k: int,
                 score_threshold: float | None, search_method: str) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class ToolRef:
    """Which tool a node or an agent names, in Dify's terms: `provider_type` is builtin | plugin | api |
    workflow | mcp; `provider_id` is e.g. `time` or `langgenius/time/time`; `tool_name` e.g. `current_time`."""

    provider_type: str
    provider_id: str
    tool_name: str
    # The provider's display name in the exporting Dify (`provider_name`); installed providers may be found by it
    # when their id differs from the export's (Dify ids of API, MCP and workflow providers are per deployment).
    provider_name: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.provider_type}:{self.provider_id}/{self.tool_name}"


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a model sees it: name, description and a JSON Schema of its arguments (OpenAI `parameters`)."""

    ref: ToolRef
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned, folded into the tool node's outputs (Dify's `text`, `files`, `json`, plus any
    `variable` messages as extra outputs)."""

    text: str = ""
    json: tuple[dict[str, Any], ...] = ()
    files: tuple[dict[str, Any], ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    total_tokens: int = 0  # model tokens the tool spent on the caller's behalf (a workflow tool's callee run)


class ToolRuntime(Protocol):
    """The one door from the engine to every tool kind (built-in, OpenAPI, MCP, workflow, plugin). Credentials
    are resolved behind it per workspace and never cross it."""

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        """The tool's schema. Raises ToolNotFound when the provider or tool is not installed here."""
        ...

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool once. Raises ToolNotFound (not installed), ToolCredentialsMissing, or ToolInvokeError
        (the tool ran and failed; the message says why). Every call has a timeout."""
        ...


class ToolCatalog(Protocol):
    """Optional second face of a ToolRuntime: every tool of one provider. Agent strategies that bring a whole MCP
    server (`mcp_server` / `mcp_servers_config` parameters) need it; runtimes without it make those agents fail
    with a clear error."""

    def list_tools(self, workspace_id: str, provider_type: str, provider_id: str) -> list[ToolSpec]:
        """The provider's tools (for `mcp`, `provider_id` is the server URL). Raises ToolNotFound when the
        provider is not installed or not reachable."""
        ...


class FileStore(Protocol):
    """Files a run was given (uploads, remote URLs) in Dify's file shape: `transfer_method` local_file |
    remote_url | tool_file, `upload_file_id`/`related_id` or `url`. Scoped to the run's workspace."""

    def describe(self, file: dict[str, Any]) -> dict[str, Any]:
        """The full file object (`filename`, `extension`, `mime_type`, `size`, `type`, ...) for a request's file
        reference. Raises WorkflowError when the file does not exist in this workspace."""
        ...

    def read(self, file: dict[str, Any]) -> bytes:
        """The file's bytes (remote URLs through the egress guard). Raises WorkflowError when it is gone or
        cannot be fetched, EgressRefused for a refused address."""
        ...


@dataclass
class NodeServices:
    """Optional side-effect ports that specific node types need (code sandbox, egress-guarded HTTP, SQL,
    knowledge retrieval). Each is typed by its node module's protocol; None means "not configured" and the
    node fails with a clear error."""

    retriever: KnowledgeRetriever = field(default_factory=NoRetriever)
    http: Any = None
    sandbox: Any = None
    sql: Any = None
    files: FileStore | None = None
    tools: ToolRuntime | None = None
    # The conversation's earlier turns, oldest first; empty outside chatflows.
    history: tuple[ChatTurn, ...] = ()


@dataclass(frozen=True)
class ChatTurn:
    """One earlier exchange of a chatflow conversation, for LLM memory."""

    query: str
    answer: str


class EventSink(Protocol):
    def __call__(self, event: Any) -> None: ...


@dataclass
class EnginePorts:
    """Everything a run touches outside memory. `checkpoint` persists a finished node before any successor
    starts; `should_stop` is polled between nodes and while an LLM streams."""

    llm: LLMGateway
    emit: EventSink
    checkpoint: Callable[[NodeRecord], None] = lambda record: None
    should_stop: Callable[[], bool] = lambda: False
    services: NodeServices = field(default_factory=NodeServices)
    workspace_id: str = ""
