"""Message feedback on the Service API (`app-` keys): `POST /v1/messages/{id}/feedbacks` rates a message for
an end user, `GET /v1/app/feedbacks` lists the app's ratings."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from app.api import container
from app.api.auth import app_principal
from app.api.schemas import parse_json
from app.services.runs import parse_page

feedback = Blueprint("feedback", __name__)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rating: Literal["like", "dislike"] | None = None
    user: str = Field(min_length=1, max_length=255)
    content: str | None = Field(default=None, max_length=10_000)


@feedback.post("/messages/<message_id>/feedbacks")
def rate_message(message_id: str) -> Response:
    who = app_principal()
    body = parse_json(FeedbackRequest)
    container().feedbacks.rate(who, message_id, body.user, body.rating, body.content)
    return jsonify({"result": "success"})


@feedback.get("/app/feedbacks")
def list_feedbacks() -> Response:
    who = app_principal()
    page, limit = parse_page(request.args)
    return jsonify({"data": container().feedbacks.list(who, page, limit)})
