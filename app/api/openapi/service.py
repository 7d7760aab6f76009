"""OpenAPI paths of the app-key part of the Service API (`/v1`): workflows, chat, conversations, messages,
files, info and parameters. Request bodies come from the views' pydantic models (see `document.py`)."""

from __future__ import annotations

from app.api.openapi.components import (
    JSON,
    LIMIT,
    PAGING,
    SSE,
    STR,
    USER,
    Schema,
    array,
    json_body,
    json_response,
    no_content,
    obj,
    operation,
    page_of,
    path,
    query,
    ref,
)

TAG_WF, TAG_CHAT, TAG_APP = "Workflows", "Chat", "App"


def run_response(blocking: str) -> Schema:
    return {"description": "`blocking`: the finished result as JSON. `streaming`: Server-Sent Events, each "
                           "`data:` line one JSON event (`workflow_started`, `node_started`, `text_chunk`, "
                           "`node_finished`, `workflow_finished`, ...), with `event: ping` frames while idle.",
            "content": {JSON: {"schema": ref(blocking)}, SSE: {"schema": obj({"data": STR}, {"event": STR})}}}


def service_paths() -> dict[str, Schema]:
    stop = json_body(ref("StopRequest"))
    return {
        "/v1/": {"get": operation("serviceIndex", "Service API banner", TAG_APP, None, {"200": json_response(
            obj({"welcome": STR, "api_version": STR, "server_version": STR}))})},
        "/v1/workflows/run": {"post": operation(
            "runWorkflow", "Run the app's published workflow", TAG_WF, "AppKey", {"200": run_response("BlockingRun")},
            body=json_body(ref("WorkflowRunRequest")),
            params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": {"type": "string", "maxLength": 255},
                     "description": "A repeat of the same request returns the first run."}])},
        "/v1/workflows/run/{run_id}": {"get": operation(
            "getWorkflowRun", "A run's detail", TAG_WF, "AppKey", {"200": json_response(ref("RunDetail"))},
            params=[path("run_id")])},
        "/v1/workflows/tasks/{task_id}/stop": {"post": operation(
            "stopWorkflowTask", "Stop a run (streaming task)", TAG_WF, "AppKey",
            {"200": json_response(ref("Result"))}, body=stop, params=[path("task_id")])},
        "/v1/workflows/logs": {"get": operation(
            "listWorkflowLogs", "The app's runs, newest first", TAG_WF, "AppKey",
            {"200": json_response(ref("LogPage"))},
            params=[*PAGING, query("keyword"),
                    query("status", {"type": "string", "enum": ["succeeded", "failed", "stopped", "running",
                                                                "partial-succeeded"]}),
                    query("created_by_end_user_session_id"),
                    query("created_at__before", {"type": "string", "format": "date-time"}),
                    query("created_at__after", {"type": "string", "format": "date-time"})])},
        "/v1/info": {"get": operation("getAppInfo", "The app's name, description and mode", TAG_APP, "AppKey",
                                      {"200": json_response(ref("Info"))})},
        "/v1/parameters": {"get": operation(
            "getAppParameters", "The start form and features of the published app", TAG_APP, "AppKey",
            {"200": json_response(ref("Parameters"))})},
        "/v1/files/upload": {"post": operation(
            "uploadFile", "Upload a file for later use in runs", TAG_APP, "AppKey",
            {"201": json_response(ref("File"), "Stored")},
            body={"required": True, "content": {"multipart/form-data": {"schema": obj(
                {"file": {"type": "string", "format": "binary"}}, {"user": STR})}}})},
        **chat_paths(),
    }


def chat_paths() -> dict[str, Schema]:
    conversation = path("conversation_id")
    return {
        "/v1/chat-messages": {"post": operation(
            "sendChatMessage", "Send a chat message (chatflow, chat and agent apps)", TAG_CHAT, "AppKey",
            {"200": run_response("ChatReply")}, body=json_body(ref("ChatMessageRequest")))},
        "/v1/chat-messages/{task_id}/stop": {"post": operation(
            "stopChatMessage", "Stop a streaming reply", TAG_CHAT, "AppKey", {"200": json_response(ref("Result"))},
            body=json_body(ref("StopRequest"), required=False), params=[path("task_id")])},
        "/v1/completion-messages": {"post": operation(
            "sendCompletionMessage", "Generate a completion (completion apps)", TAG_CHAT, "AppKey",
            {"200": run_response("CompletionReply")}, body=json_body(ref("CompletionMessageRequest")))},
        "/v1/completion-messages/{task_id}/stop": {"post": operation(
            "stopCompletionMessage", "Stop a streaming completion", TAG_CHAT, "AppKey",
            {"200": json_response(ref("Result"))}, body=json_body(ref("StopRequest"), required=False),
            params=[path("task_id")])},
        "/v1/conversations": {"get": operation(
            "listConversations", "The user's conversations", TAG_CHAT, "AppKey",
            {"200": json_response(page_of(ref("Conversation"), paged=False))},
            params=[USER, query("last_id"), *LIMIT,
                    query("sort_by", {"type": "string", "enum": ["created_at", "-created_at", "updated_at",
                                                                 "-updated_at"]})])},
        "/v1/conversations/{conversation_id}": {"delete": operation(
            "deleteConversation", "Delete a conversation", TAG_CHAT, "AppKey", {"204": no_content()},
            body=json_body(ref("UserBody"), required=False), params=[conversation])},
        "/v1/conversations/{conversation_id}/name": {"post": operation(
            "renameConversation", "Rename a conversation (or generate a name)", TAG_CHAT, "AppKey",
            {"200": json_response(ref("Conversation"))}, body=json_body(ref("RenameRequest")),
            params=[conversation])},
        "/v1/conversations/{conversation_id}/variables": {"get": operation(
            "listConversationVariables", "A conversation's variables", TAG_CHAT, "AppKey",
            {"200": json_response(page_of(ref("ConversationVariable"), paged=False))},
            params=[conversation, USER, query("last_id"), *LIMIT])},
        "/v1/messages": {"get": operation(
            "listMessages", "A conversation's messages, oldest first within a page", TAG_CHAT, "AppKey",
            {"200": json_response(page_of(ref("Message"), paged=False))},
            params=[USER, query("conversation_id", required=True), query("first_id"), *LIMIT])},
        "/v1/messages/{message_id}/suggested": {"get": operation(
            "suggestedQuestions", "Suggested follow-up questions", TAG_CHAT, "AppKey",
            {"200": json_response(obj({"result": STR, "data": array(STR)}))},
            params=[path("message_id"), USER])},
    }
