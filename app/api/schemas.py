"""Request bodies of the Service API, as pydantic models; parse errors become `invalid_param` (400)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.input_guard import MAX_JSON_DEPTH
from app.engine.data_limits import check_tree
from app.errors import BadRequest, InvalidParam

Model = TypeVar("Model", bound=BaseModel)


class WorkflowRunRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any]
    response_mode: Literal["blocking", "streaming"] = "streaming"
    user: str = Field(min_length=1, max_length=255)
    files: list[dict[str, Any]] = Field(default_factory=list)
    trace_id: str | None = Field(default=None, max_length=128)  # Dify's external trace id (issue 17)


class StopRequest(BaseModel):
    """The end user asking: only the one who started a run may stop it (as in Dify, `user` is required)."""

    model_config = ConfigDict(extra="ignore")

    user: str = Field(min_length=1, max_length=255)


def check_input_sizes(inputs: dict[str, Any], limit: int) -> None:
    """Refuse (400 `invalid_param`, naming the variable) any input larger than `limit` bytes: UTF-8 bytes of a
    string, bytes of the JSON of anything else. MAX_VARIABLE_BYTES, the engine's cap on one variable."""
    for name, value in inputs.items():
        size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else \
            len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
        if size > limit:
            raise InvalidParam(f"{name} in input form is {size} bytes, more than the limit of {limit}", params=name)


def parse_json(model: type[Model]) -> Model:
    """Parse the JSON body into `model`. A body sent without `Content-Type: application/json` (curl's `-d` sends
    `application/x-www-form-urlencoded`, some clients send nothing or `text/plain`) is accepted when it parses
    as JSON. Otherwise 400 `bad_request` naming the problem: malformed JSON, or a body that is not JSON and does
    not say it is (the content type is named). A body that does not fit the model is 400 `invalid_param`
    naming the field."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        payload: Any = {}
    elif request.is_json:
        payload = request.get_json(silent=True)
        if payload is None:
            raise BadRequest("Request body is not valid JSON")
    else:
        try:
            payload = json.loads(raw)
        except ValueError:
            raise BadRequest(f"Request body must be JSON with Content-Type: application/json; got "
                             f"{request.mimetype or 'no Content-Type'} and a body that is not JSON") from None
        except RecursionError as exc:
            raise BadRequest(f"Request body is nested deeper than {MAX_JSON_DEPTH} levels") from exc
        # The edge guard checked it only as form fields: the same limits as a labelled JSON body apply.
        check_tree(payload, "body", max_depth=MAX_JSON_DEPTH)
    if not isinstance(payload, dict):
        raise InvalidParam("Request body must be a JSON object")
    return validate(model, payload)


def validate(model: type[Model], payload: Any) -> Model:
    """`model` from `payload`; a mismatch is 400 `invalid_param` naming the first bad field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidParam(f"{field}: {first['msg']}", params=field) from exc


def parse_time(name: str, *, end: bool = False) -> datetime | None:
    """Query parameter `name` as an ISO 8601 timestamp or date (UTC when naive); as an `end` bound a bare date
    includes that whole day. 400 `invalid_param` when it does not parse."""
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParam(f"{name} must be an ISO 8601 date or timestamp", params=name) from exc
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if end and len(value) == 10:
        parsed += timedelta(days=1)
    return parsed
