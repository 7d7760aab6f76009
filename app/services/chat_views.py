"""Dify's JSON shapes for message apps (chatflow, chat, agent-chat, completion): the blocking reply, the SSE
events, conversations, messages and conversation variables. Pure functions of rows and run events; no I/O.

A chatflow streams its workflow and node events along with the answer. The easy modes stream only what Dify's
do: the answer as `message` (`agent_message` in agent apps), each finished agent round as `agent_thought`, then
`message_end`; completion events name no conversation."""

from __future__ import annotations

import json
from typing import Any

from app.models import Conversation, ConversationVariable, Message
from app.services.run_views import ts

MODE = "advanced-chat"
CHAT_MODES = ("advanced-chat", "chat", "agent-chat")
COMPLETION = "completion"
MESSAGE_MODES = (*CHAT_MODES, COMPLETION)


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


def _head(message: Message, mode: str) -> dict[str, Any]:
    head: dict[str, Any] = {"message_id": message.id, "created_at": ts(message.created_at)}
    if mode != COMPLETION:
        head["conversation_id"] = message.conversation_id
    return head


def blocking_reply(task_id: str, message: Message, mode: str = MODE) -> dict[str, Any]:
    return {"event": "message", "task_id": task_id, "id": message.id, **_head(message, mode), "mode": mode,
            "answer": message.answer, "metadata": metadata(message)}


def chat_event(payload: dict[str, Any], message: Message, mode: str = MODE) -> dict[str, Any] | None:
    """A run event as an SSE event of the app's mode, or None when that mode does not show it. The run's
    `text_chunk` (only answer text reaches the log of a message run) becomes Dify's `message`."""
    head = _head(message, mode)
    event = payload.get("event")
    if event == "text_chunk":
        data = payload.get("data") or {}
        reply = {"event": "agent_message" if mode == "agent-chat" else "message", **head,
                 "task_id": payload.get("task_id"), "id": message.id, "answer": data.get("text", "")}
        if mode == MODE:
            reply["from_variable_selector"] = data.get("from_variable_selector")
        return reply
    if mode == MODE:
        return {"event": event, **head, **{k: v for k, v in payload.items() if k != "event"}}
    if event == "agent_log" and mode == "agent-chat":
        return agent_thought(payload, message)
    return None


def thought(summary: dict[str, Any]) -> dict[str, Any]:
    """One agent round (the agent node's round summary) in Dify's agent-thought fields; several tools of one
    round are joined with `;` and their inputs and observations keyed by tool name, as Dify stores them."""
    tools = summary.get("tools") or []
    if len(tools) == 1:
        tool_input, observation = json.dumps(tools[0]["input"], ensure_ascii=False), tools[0]["observation"]
    else:
        tool_input = json.dumps({t["tool"]: t["input"] for t in tools}, ensure_ascii=False) if tools else ""
        observation = json.dumps({t["tool"]: t["observation"] for t in tools}, ensure_ascii=False) if tools else ""
    return {"id": summary.get("id"), "position": summary.get("round") or 1, "thought": summary.get("thought") or "",
            "observation": observation, "tool": ";".join(t["tool"] for t in tools),
            "tool_labels": {t["tool"]: {"en_US": t["tool"]} for t in tools}, "tool_input": tool_input}


def agent_thought(payload: dict[str, Any], message: Message) -> dict[str, Any] | None:
    """A finished agent round (`agent_log` labelled `ROUND n`) as Dify's `agent_thought` event."""
    data = payload.get("data") or {}
    if data.get("status") != "success" or not str(data.get("label") or "").startswith("ROUND"):
        return None
    return {"event": "agent_thought", **thought({"id": data.get("id"), **(data.get("data") or {})}),
            "task_id": payload.get("task_id"), "message_id": message.id,
            "conversation_id": message.conversation_id, "message_files": [], "created_at": ts(message.created_at)}


def thought_item(summary: dict[str, Any], message_id: str, created_at: int | None) -> dict[str, Any]:
    """A stored agent round in a message's `agent_thoughts` (`GET /v1/messages`)."""
    return {**thought(summary), "message_id": message_id, "chain_id": None, "files": [], "created_at": created_at}


def message_end(task_id: str, message: Message, mode: str = MODE) -> dict[str, Any]:
    end = {"event": "message_end", **_head(message, mode), "task_id": task_id, "id": message.id,
           "metadata": metadata(message)}
    if mode != COMPLETION:
        end["files"] = []
    return end


def error_event(task_id: str, message: Message, error: str, mode: str = MODE) -> dict[str, Any]:
    return {"event": "error", **_head(message, mode), "task_id": task_id, "status": 400, "code": "invalid_param",
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
