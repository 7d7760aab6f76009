"""The Dify-compatible message endpoints of the Service API (`/v1`): chat messages (chatflow, chat and
agent-chat apps) and completion messages (completion apps), blocking and streaming, and their stop; then
conversations, messages, conversation variables and suggested questions."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from app.api import container
from app.api.auth import app_principal
from app.api.schemas import StopRequest, check_input_sizes, parse_json
from app.api.service import sse
from app.errors import InvalidParam
from app.services.chat import ChatRequest
from app.services.conversations import parse_limit

chat = Blueprint("chat", __name__)


class ChatMessageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    response_mode: Literal["blocking", "streaming"] = "streaming"
    user: str = Field(min_length=1, max_length=255)
    conversation_id: str | None = None
    files: list[dict[str, Any]] | None = None
    auto_generate_name: bool = True
    trace_id: str | None = Field(default=None, max_length=128)  # Dify's external trace id (issue 17)


class CompletionMessageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any] = Field(default_factory=dict)
    response_mode: Literal["blocking", "streaming"] = "streaming"
    user: str = Field(min_length=1, max_length=255)
    files: list[dict[str, Any]] | None = None


class RenameRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    auto_generate: bool = False
    user: str = Field(min_length=1, max_length=255)


class UserBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str | None = None


def _user(body_user: str | None = None) -> str:
    user = body_user or request.args.get("user")
    if not user:
        raise InvalidParam("user is required", params="user")
    return user


@chat.post("/chat-messages")
def create_chat_message() -> Response:
    who = app_principal()
    body = parse_json(ChatMessageRequest)
    chats, settings = container().chats, container().settings
    check_input_sizes(body.inputs, settings.max_variable_bytes)
    ticket = chats.submit(who, ChatRequest(
        query=body.query, user=body.user, inputs=body.inputs, conversation_id=body.conversation_id or None,
        files=body.files or [], response_mode=body.response_mode, auto_generate_name=body.auto_generate_name,
        trace=container().tracing.origin(request.headers, body.trace_id)))
    return _answer(ticket, body.response_mode)


@chat.post("/chat-messages/<task_id>/stop")
@chat.post("/completion-messages/<task_id>/stop")
def stop_message(task_id: str) -> Response:
    who = app_principal()
    body = parse_json(StopRequest)
    # Dify answers success for a task it does not know (it only sets a stop flag), and SDKs rely on it.
    container().runs.stop(who, task_id, body.user, missing_ok=True)
    return jsonify({"result": "success"})


@chat.post("/completion-messages")
def create_completion_message() -> Response:
    who = app_principal()
    body = parse_json(CompletionMessageRequest)
    chats, settings = container().chats, container().settings
    check_input_sizes(body.inputs, settings.max_variable_bytes)
    ticket = chats.submit(who, ChatRequest(
        query=str(body.inputs.get("query") or ""), user=body.user, inputs=body.inputs, files=body.files or [],
        response_mode=body.response_mode, auto_generate_name=False,
        trace=container().tracing.origin(request.headers, None)), completion=True)
    return _answer(ticket, body.response_mode)


def _answer(ticket: Any, response_mode: str) -> Response:
    """The turn's answer: Dify's JSON once it is done (blocking), else its events as SSE."""
    chats, settings = container().chats, container().settings
    if response_mode == "blocking":
        return jsonify(chats.reply(ticket, settings.blocking_timeout_seconds))
    return sse(chats.follow(ticket, settings.blocking_timeout_seconds, heartbeat=settings.sse_ping_seconds))


@chat.get("/conversations")
def list_conversations() -> Response:
    who = app_principal()
    page = container().conversations.list(who, _user(), request.args.get("last_id") or None,
                                          parse_limit(request.args.get("limit")),
                                          request.args.get("sort_by") or "-updated_at")
    return jsonify(page.to_dict())


@chat.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str) -> Response:
    who = app_principal()
    body = parse_json(UserBody)
    container().conversations.delete(who, _user(body.user), conversation_id)
    return Response(status=204)


@chat.post("/conversations/<conversation_id>/name")
def rename_conversation(conversation_id: str) -> Response:
    who = app_principal()
    body = parse_json(RenameRequest)
    return jsonify(container().conversations.rename(who, body.user, conversation_id, body.name,
                                                    body.auto_generate))


@chat.get("/conversations/<conversation_id>/variables")
def conversation_variables(conversation_id: str) -> Response:
    who = app_principal()
    page = container().conversations.variables(who, _user(), conversation_id, request.args.get("last_id") or None,
                                               parse_limit(request.args.get("limit")))
    return jsonify(page.to_dict())


@chat.get("/messages")
def list_messages() -> Response:
    who = app_principal()
    conversation_id = request.args.get("conversation_id")
    if not conversation_id:
        raise InvalidParam("conversation_id is required", params="conversation_id")
    page = container().conversations.messages(who, _user(), conversation_id, request.args.get("first_id") or None,
                                              parse_limit(request.args.get("limit")))
    container().chats.add_agent_thoughts(page.data)
    return jsonify(page.to_dict())


@chat.get("/messages/<message_id>/suggested")
def suggested_questions(message_id: str) -> Response:
    who = app_principal()
    return jsonify({"result": "success", "data": container().conversations.suggested(who, _user(), message_id)})
