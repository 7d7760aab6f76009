"""Conversations of chatflow apps, from the caller's side: list, rename (optionally named by the LLM), delete,
their messages, their variables and suggested questions. Every read is scoped by app and end user: another
app's or user's conversation is a 404, never a leak."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.engine.nodes.llm import LLMNode
from app.engine.ports import ChatMessage, LLMGateway, LLMRequest
from app.errors import InvalidParam, NotFound, TrellisError
from app.models import Conversation, ConversationVariable, EndUser, Message
from app.models.base import utcnow
from app.services import chat_views
from app.services.accounts import AppPrincipal
from app.services.apps import Apps
from app.services.feedbacks import ratings_of

SORTS = {"created_at": (Conversation.created_at, False), "-created_at": (Conversation.created_at, True),
         "updated_at": (Conversation.updated_at, False), "-updated_at": (Conversation.updated_at, True)}
SUGGEST_PROMPT = ("Suggest three short follow-up questions the user may ask next, in the user's language. Reply "
                  "with a JSON array of three strings only.\n\nUser: {query}\nAssistant: {answer}")
NAME_PROMPT = ("Write a short title (at most 8 words, no quotes) for a conversation that starts with this "
               "message. Reply with the title only.\n\nMessage: {query}")


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    limit: int
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "has_more": self.has_more, "data": self.data}


def find_conversation(session: Session, app_id: str, end_user_id: str | None, conversation_id: str) -> Conversation:
    """The conversation if it belongs to this app and end user. Raises NotFound (Dify's message) otherwise."""
    conversation = session.scalars(select(Conversation).where(
        Conversation.id == conversation_id, Conversation.app_id == app_id,
        Conversation.end_user_id == end_user_id)).first()
    if conversation is None:
        raise NotFound("Conversation Not Exists.")
    return conversation


def parse_limit(value: Any, default: int = 20, maximum: int = 100) -> int:
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise InvalidParam("limit must be an integer", params="limit") from exc
    if not 1 <= limit <= maximum:
        raise InvalidParam(f"limit must be between 1 and {maximum}", params="limit")
    return limit


class Conversations:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, llm: LLMGateway) -> None:
        self._sessions = sessions
        self._apps = apps
        self._llm = llm

    @staticmethod
    def _end_user(session: Session, who: AppPrincipal, user: str) -> str | None:
        return session.scalars(select(EndUser.id).where(EndUser.app_id == who.app_id,
                                                        EndUser.session_id == user)).first()

    def _owned(self, session: Session, who: AppPrincipal, user: str, conversation_id: str) -> Conversation:
        return find_conversation(session, who.app_id, self._end_user(session, who, user), conversation_id)

    def list(self, who: AppPrincipal, user: str, last_id: str | None, limit: int, sort_by: str) -> Page:
        """Newest activity first by default; `last_id` continues after that conversation."""
        if sort_by not in SORTS:
            raise InvalidParam(f"sort_by must be one of {', '.join(SORTS)}", params="sort_by")
        column, descending = SORTS[sort_by]
        with self._sessions() as session:
            end_user_id = self._end_user(session, who, user)
            query = select(Conversation).where(Conversation.app_id == who.app_id,
                                               Conversation.end_user_id == end_user_id)
            if last_id:
                last = find_conversation(session, who.app_id, end_user_id, last_id)
                value = getattr(last, column.key)
                query = query.where(column < value if descending else column > value)
            order = column.desc() if descending else column.asc()
            rows = list(session.scalars(query.order_by(order, Conversation.id).limit(limit + 1)))
        return Page([chat_views.conversation_item(c) for c in rows[:limit]], limit, len(rows) > limit)

    def delete(self, who: AppPrincipal, user: str, conversation_id: str) -> None:
        with self._sessions() as session, session.begin():
            conversation = self._owned(session, who, user, conversation_id)
            # Bulk deletes: the database cascades would do it too, but SQLite only with foreign keys on.
            session.execute(delete(ConversationVariable).where(ConversationVariable.conversation_id == conversation.id))
            session.execute(delete(Message).where(Message.conversation_id == conversation.id))
            session.delete(conversation)

    def rename(self, who: AppPrincipal, user: str, conversation_id: str, name: str | None,
               auto_generate: bool) -> dict[str, Any]:
        """Set the name, or with `auto_generate` ask the app's first LLM for a title of the first query (the
        query itself, shortened, if the model fails)."""
        with self._sessions() as session, session.begin():
            conversation = self._owned(session, who, user, conversation_id)
            if auto_generate:
                first = session.scalars(select(Message.query).where(Message.conversation_id == conversation.id)
                                        .order_by(Message.created_at).limit(1)).first()
                name = self._generate_name(who, first or conversation.name)
            if not name or not name.strip():
                raise InvalidParam("name is required", params="name")
            conversation.name, conversation.updated_at = name.strip()[:255], utcnow()
            session.flush()
            return chat_views.conversation_item(conversation)

    def _ask(self, who: AppPrincipal, prompt: str, max_tokens: int) -> str | None:
        """One call to the model of the app's first LLM node; None when there is none or the call fails."""
        graph = self._apps.published(who.workspace_id, who.app_id).graph
        llm = next((n for n in graph.nodes.values() if isinstance(n, LLMNode)), None)
        if llm is None:
            return None
        request = LLMRequest(provider=llm.data.model.provider, model=llm.data.model.name,
                             messages=(ChatMessage("user", prompt),), params={"max_tokens": max_tokens})
        try:
            return self._llm.complete(request, lambda _delta: None).text.strip()
        except TrellisError:
            return None

    def _generate_name(self, who: AppPrincipal, query: str) -> str:
        title = (self._ask(who, NAME_PROMPT.format(query=query[:2000]), 32) or "").strip('"')
        return title[:255] or query.strip()[:50]

    def messages(self, who: AppPrincipal, user: str, conversation_id: str, first_id: str | None,
                 limit: int) -> Page:
        """Oldest first within the page; `first_id` pages back to messages before that one, as in Dify."""
        with self._sessions() as session:
            conversation = self._owned(session, who, user, conversation_id)
            query: Select[tuple[Message]] = select(Message).where(Message.conversation_id == conversation.id)
            if first_id:
                first = session.scalars(select(Message).where(Message.id == first_id,
                                                              Message.conversation_id == conversation.id)).first()
                if first is None:
                    raise NotFound("First Message Not Exists.")
                query = query.where(Message.created_at < first.created_at)
            rows = list(session.scalars(query.order_by(Message.created_at.desc()).limit(limit + 1)))
            ratings = ratings_of(session, [m.id for m in rows[:limit]])
        return Page([chat_views.message_item(m, ratings.get(m.id)) for m in reversed(rows[:limit])], limit,
                    len(rows) > limit)

    def variables(self, who: AppPrincipal, user: str, conversation_id: str, last_id: str | None,
                  limit: int) -> Page:
        with self._sessions() as session:
            conversation = self._owned(session, who, user, conversation_id)
            query = select(ConversationVariable).where(ConversationVariable.conversation_id == conversation.id)
            if last_id:
                last = session.get(ConversationVariable, last_id)
                if last is None or last.conversation_id != conversation.id:
                    raise NotFound("Conversation Variable Not Exists.")
                query = query.where(ConversationVariable.name > last.name)
            rows = list(session.scalars(query.order_by(ConversationVariable.name).limit(limit + 1)))
        return Page([chat_views.variable_item(v) for v in rows[:limit]], limit, len(rows) > limit)

    def suggested(self, who: AppPrincipal, user: str, message_id: str) -> list[str]:
        """Suggested follow-up questions. The message must be this user's (404 otherwise). With the app's
        `suggested_questions_after_answer` feature off there are none; with it on, the app's model proposes up
        to three (none if its reply is not a JSON list of strings)."""
        with self._sessions() as session:
            message = session.get(Message, message_id)
            if message is None or message.app_id != who.app_id:
                raise NotFound("Message Not Exists.")
            find_conversation(session, who.app_id, self._end_user(session, who, user), message.conversation_id)
        feature = self._apps.published(who.workspace_id, who.app_id).features.get("suggested_questions_after_answer")
        if not isinstance(feature, dict) or not feature.get("enabled"):
            return []
        reply = self._ask(who, SUGGEST_PROMPT.format(query=message.query[:2000], answer=message.answer[:2000]), 256)
        try:
            found = json.loads(reply[reply.find("["):reply.rfind("]") + 1]) if reply else []
        except ValueError:
            return []
        return [q.strip() for q in found if isinstance(q, str) and q.strip()][:3] if isinstance(found, list) else []
