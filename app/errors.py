"""The domain error tree: a stable code, an HTTP status, a message and whether retrying may help.

Codes follow Dify's Service API so its SDKs recognise them. The API renders these once, in
`app/api/errors.py`; the worker retries only errors marked `retryable`. Nothing here imports other modules.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TrellisError(Exception):
    """Base of every error Trellis reports to a caller."""

    code: ClassVar[str] = "internal_server_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "Internal Server Error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        body.update(self.extra)
        return body


class InvalidParam(TrellisError):
    code, status, default_message = "invalid_param", 400, "Invalid parameter"


class BadRequest(TrellisError):
    code, status, default_message = "bad_request", 400, "Bad request"


class Unauthorized(TrellisError):
    code, status, default_message = "unauthorized", 401, "Access token is invalid"


class Forbidden(TrellisError):
    code, status, default_message = "forbidden", 403, "Forbidden"


class NotFound(TrellisError):
    code, status, default_message = "not_found", 404, "Not found"


class AppUnavailable(TrellisError):
    code, status, default_message = "app_unavailable", 400, "App unavailable, please check your app configurations."


class NotWorkflowApp(TrellisError):
    code, status = "not_workflow_app", 400
    default_message = "Please check if your app mode matches the right API route."


class NotChatApp(TrellisError):
    code, status = "not_chat_app", 400
    default_message = "Please check if your app mode matches the right API route."


class NotCompletionApp(TrellisError):
    code, status = "not_completion_app", 400
    default_message = "Please check if your Completion app mode matches the right API route."


class Conflict(TrellisError):
    code, status, default_message = "conflict", 409, "Conflict"


class PayloadTooLarge(TrellisError):
    code, status, default_message = "request_entity_too_large", 413, "Request body is too large"


class TooManyRequests(TrellisError):
    code, status, retryable, default_message = "too_many_requests", 429, True, "Too many requests"


class ServiceUnavailable(TrellisError):
    code, status, retryable, default_message = "service_unavailable", 503, True, "Service temporarily unavailable"


class ProviderNotInitialize(TrellisError):
    code, status, default_message = "provider_not_initialize", 400, "No valid model provider credentials found."


class ProviderRequestError(TrellisError):
    """The model provider failed a call; transient failures may be retried."""

    code, status, retryable, default_message = "completion_request_error", 400, True, "Model provider request failed"


class WorkflowError(TrellisError):
    """A node failed while the graph ran; the run ends `failed` with this message."""

    code, status, default_message = "workflow_error", 400, "Workflow execution failed"


class RunStopped(TrellisError):
    code, status, default_message = "run_stopped", 400, "Run stopped by user"


class DatasetNameDuplicate(Conflict):
    code = "dataset_name_duplicate"
    default_message = "The dataset name already exists. Please modify your dataset name."


class DocumentIndexing(TrellisError):
    code, status, default_message = "document_indexing", 400, "The document is being processed and cannot be edited."


class NoFileUploaded(TrellisError):
    code, status, default_message = "no_file_uploaded", 400, "Please upload your file."


class TooManyFiles(TrellisError):
    code, status, default_message = "too_many_files", 400, "Only one file is allowed."


class FileTooLarge(TrellisError):
    code, status, default_message = "file_too_large", 413, "File size exceeded."


class UnsupportedFileType(TrellisError):
    code, status, default_message = "unsupported_file_type", 415, "File type not allowed."


class QuotaExceeded(TrellisError):
    """An app spent its monthly token or cost budget; new runs are refused until the month ends or the budget
    is raised (`PATCH /manage/v1/apps/{id}`). Not retryable: waiting seconds does not help."""

    code, status, default_message = "quota_exceeded", 429, "The app's monthly budget is exhausted"


class ToolNotFound(TrellisError):
    """A workflow or agent names a tool provider or tool that is not installed in this deployment."""

    code, status, default_message = "tool_not_found", 400, "Tool provider is not installed"


class ToolCredentialsMissing(TrellisError):
    code, status, default_message = "tool_credentials_missing", 400, "Tool credentials are not configured"


class ToolInvokeError(TrellisError):
    """The tool ran and failed (its service answered an error, timed out, or returned nonsense)."""

    code, status, default_message = "tool_invoke_error", 400, "Tool invocation failed"
