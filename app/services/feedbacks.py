"""Message feedback of chat apps: an end user rates one of their messages (`like`, `dislike`, or null to take
the rating back) with an optional comment, and the app's feedback list pages over every rating. A message of
another app or another end user is a 404, as in Dify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam, NotFound
from app.models import Conversation, EndUser, Message, MessageFeedback
from app.models.base import as_utc, utcnow
from app.services.accounts import AppPrincipal

RATINGS = ("like", "dislike")


def iso(value: datetime | None) -> str | None:
    """Dify's feedback timestamps: ISO 8601 in UTC with a `Z`."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def feedback_item(row: MessageFeedback) -> dict[str, Any]:
    return {"id": row.id, "app_id": row.app_id, "conversation_id": row.conversation_id,
            "message_id": row.message_id, "rating": row.rating, "content": row.content, "from_source": "user",
            "from_end_user_id": row.end_user_id, "from_account_id": None, "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at)}


def ratings_of(session: Session, message_ids: list[str]) -> dict[str, str]:
    """message id -> its latest rating, for the messages list's `feedback` field."""
    if not message_ids:
        return {}
    rows = session.execute(select(MessageFeedback.message_id, MessageFeedback.rating)
                           .where(MessageFeedback.message_id.in_(message_ids))
                           .order_by(MessageFeedback.updated_at)).all()
    return {message_id: rating for message_id, rating in rows}


class Feedbacks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def rate(self, who: AppPrincipal, message_id: str, user: str, rating: str | None,
             content: str | None) -> None:
        """Set (or with `rating` None, remove) `user`'s rating of the message. Idempotent per (message, user).
        Raises InvalidParam for another rating, NotFound for a message that is not this user's."""
        if rating is not None and rating not in RATINGS:
            raise InvalidParam("rating must be like, dislike or null", params="rating")
        with transaction(self._sessions) as session:
            found = session.execute(select(Message, EndUser.id).join(
                Conversation, Conversation.id == Message.conversation_id).join(
                EndUser, EndUser.id == Conversation.end_user_id).where(
                Message.id == message_id, Message.app_id == who.app_id, EndUser.session_id == user)).first()
            if found is None:
                raise NotFound("Message Not Exists.")
            message, end_user_id = found
            row = session.scalars(select(MessageFeedback).where(MessageFeedback.message_id == message.id,
                                                                MessageFeedback.end_user_id == end_user_id)).first()
            if rating is None:
                if row is not None:
                    session.execute(delete(MessageFeedback).where(MessageFeedback.id == row.id))
                return
            if row is None:
                session.add(MessageFeedback(app_id=who.app_id, conversation_id=message.conversation_id,
                                            message_id=message.id, end_user_id=end_user_id, rating=rating,
                                            content=content))
            else:
                row.rating, row.content, row.updated_at = rating, content, utcnow()

    def list(self, who: AppPrincipal, page: int, limit: int) -> list[dict[str, Any]]:
        """The app's ratings, newest first."""
        with self._sessions() as session:
            rows = session.scalars(select(MessageFeedback).where(MessageFeedback.app_id == who.app_id)
                                   .order_by(MessageFeedback.created_at.desc(), MessageFeedback.id)
                                   .offset((page - 1) * limit).limit(limit)).all()
            return [feedback_item(r) for r in rows]
