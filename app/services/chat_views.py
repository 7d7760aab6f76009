"""Dify's JSON shapes for chatflow apps: the blocking chat reply, chat SSE events, conversations, messages and
conversation variables. Pure functions of rows and run events; no I/O."""

from __future__ import annotations

from typing import Any

from app.models import Conversation, ConversationVariable, Message
from app.services.run_views import ts

MODE = "advanced-chat"


def usage(message: Message) -> dict[str, Any]:
    """Dify's `metadata.usage`. Prices are "0" until a price table exists for the model."""
    return {
        "prompt_tokens": message.prompt_tokens, "prompt_unit_price": "0", "prompt_price_unit": "0",
        "prompt_price": "0", "completion_tokens": message.completion_tokens, "completion_unit_price": "0",
        "completion_price_unit": "0", "completion_price": "0", "total_tokens": message.total_tokens,
        "total_price": "0", "currency": "USD", "latency": round(message.latency, 6),
    }


def metadata(message: Message) -> dict[str, Any]:
    return {"usage": usage(message), "retriever_resources": []}


def blocking_reply(task_id: str, message: Message) -> dict[str, Any]:
    return {"event": "message", "task_id": task_id, "id": message.id, "message_id": message.id,
            "conversation_id": message.conversation_id, "mode": MODE, "answer": message.answer,
            "metadata": metadata(message), "created_at": ts(message.created_at)}


def chat_event(payload: dict[str, Any], message: Message) -> dict[str, Any]:
    """A run event as a chatflow SSE event: every event names the conversation and message; the run's
    `text_chunk` (only answer text reaches the log of a chat run) becomes Dify's `message`."""
    head = {"conversation_id": message.conversation_id, "message_id": message.id,
            "created_at": ts(message.created_at)}
    if payload.get("event") == "text_chunk":
        data = payload.get("data") or {}
        return {"event": "message", **head, "task_id": payload.get("task_id"), "id": message.id,
                "answer": data.get("text", ""), "from_variable_selector": data.get("from_variable_selector")}
    return {"event": payload.get("event"), **head, **{k: v for k, v in payload.items() if k != "event"}}


def message_end(task_id: str, message: Message) -> dict[str, Any]:
    return {"event": "message_end", "conversation_id": message.conversation_id, "message_id": message.id,
            "created_at": ts(message.created_at), "task_id": task_id, "id": message.id,
            "metadata": metadata(message), "files": []}


def error_event(task_id: str, message: Message, error: str) -> dict[str, Any]:
    return {"event": "error", "conversation_id": message.conversation_id, "message_id": message.id,
            "created_at": ts(message.created_at), "task_id": task_id, "status": 400, "code": "invalid_param",
            "message": error}


def conversation_item(conversation: Conversation) -> dict[str, Any]:
    return {"id": conversation.id, "name": conversation.name, "inputs": conversation.inputs,
            "status": conversation.status, "introduction": "", "created_at": ts(conversation.created_at),
            "updated_at": ts(conversation.updated_at)}


def message_item(message: Message, rating: str | None = None) -> dict[str, Any]:
    return {"id": message.id, "conversation_id": message.conversation_id, "parent_message_id": None,
            "inputs": message.inputs, "query": message.query, "answer": message.answer,
            "message_files": [], "feedback": {"rating": rating} if rating else None, "retriever_resources": [],
            "agent_thoughts": [],
            "status": message.status, "error": message.error, "created_at": ts(message.created_at)}


def variable_item(variable: ConversationVariable) -> dict[str, Any]:
    return {"id": variable.id, "name": variable.name, "value_type": variable.value_type, "value": variable.value,
            "description": variable.description, "created_at": ts(variable.created_at),
            "updated_at": ts(variable.updated_at)}
