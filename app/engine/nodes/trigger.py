"""Trigger start nodes: `trigger-schedule` (a cron schedule starts the run) and `trigger-webhook` (an HTTP call
to the app's webhook URL starts it). Each takes the start node's place in the graph; what they declare is read
by the trigger service (`app.services.triggers`) when the app is imported, and what arrives is handed in as the
run's inputs.

`trigger-schedule` (Dify 1.x): `mode` visual | cron; `cron_expression` in cron mode; else `frequency` hourly |
daily | weekly | monthly with `visual_config` (`on_minute` for hourly, `time` such as "2:30 PM" otherwise,
`weekdays` such as ["mon"] for weekly, `monthly_days` such as [1, 15, "last"] for monthly); `timezone` (IANA).
Outputs what the scheduler hands in (`scheduled_time`, `timezone`).

`trigger-webhook` (Dify 1.x): `method`, `content_type`, and the declared request parts `params` (query string),
`headers` and `body`, each `{name, type?, required}`. Outputs each declared name (a header with its dashes as
underscores; missing ones as null) and `_webhook_raw` (method, headers, query_params, body).

Must not import anything outside `app.engine` and `app.errors`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.nodes.start import StartData, StartNode
from app.errors import InvalidParam

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s*$")


class VisualConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    time: str | None = None
    weekdays: list[str] = Field(default_factory=list)
    on_minute: int | None = Field(default=None, ge=0, le=59)
    monthly_days: list[int | str] = Field(default_factory=list)

    @field_validator("weekdays", "monthly_days", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class ScheduleData(StartData):
    mode: str = "visual"
    frequency: str | None = "daily"
    cron_expression: str | None = None
    visual_config: VisualConfig | None = None
    timezone: str = "UTC"


def _hour_minute(text: str | None) -> tuple[int, int]:
    match = TIME.match(text or "12:00 AM")
    if not match:
        raise InvalidParam(f"schedule time {text!r} is not like '2:30 PM' or '14:30'")
    hour, minute, half = int(match.group(1)), int(match.group(2)), (match.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise InvalidParam(f"schedule time {text!r} has no such hour")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise InvalidParam(f"schedule time {text!r} has no such hour or minute")
    return hour, minute


def visual_cron(frequency: str, config: VisualConfig) -> str:
    """The five-field cron expression of a visual schedule. Raises InvalidParam for an impossible one."""
    if frequency == "hourly":
        return f"{config.on_minute or 0} * * * *"
    hour, minute = _hour_minute(config.time)
    if frequency == "daily":
        return f"{minute} {hour} * * *"
    if frequency == "weekly":
        days = [d.lower()[:3] for d in config.weekdays] or ["mon"]
        if any(d not in WEEKDAYS for d in days):
            raise InvalidParam(f"schedule weekdays {config.weekdays} must be among {', '.join(WEEKDAYS)}")
        return f"{minute} {hour} * * {','.join(str(WEEKDAYS.index(d)) for d in days)}"
    if frequency == "monthly":
        days = config.monthly_days or [1]
        fields = ["L" if str(d).lower() == "last" else str(int(d)) for d in days]
        if any(f != "L" and not 1 <= int(f) <= 31 for f in fields):
            raise InvalidParam(f"schedule monthly days {days} must be 1-31 or 'last'")
        return f"{minute} {hour} {','.join(fields)} * *"
    raise InvalidParam(f"schedule frequency {frequency!r} must be hourly, daily, weekly or monthly")


class TriggerScheduleNode(StartNode):
    type = "trigger-schedule"
    data_model = ScheduleData
    data: ScheduleData

    def cron(self) -> str:
        """The schedule as a cron expression (validated by the trigger service, which owns the cron library)."""
        if self.data.mode == "cron":
            if not (self.data.cron_expression or "").strip():
                raise InvalidParam(f"node {self.id}: a cron schedule needs a cron_expression", params=self.id)
            return str(self.data.cron_expression).strip()
        return visual_cron(self.data.frequency or "daily", self.data.visual_config or VisualConfig())


class WebhookField(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str = "string"
    required: bool = False


class WebhookData(StartData):
    method: str = "get"
    content_type: str = "application/json"
    params: list[WebhookField] = Field(default_factory=list)
    headers: list[WebhookField] = Field(default_factory=list)
    body: list[WebhookField] = Field(default_factory=list)
    status_code: int = Field(default=200, ge=100, le=599)
    response_body: str = ""


def header_variable(name: str) -> str:
    """The variable a declared header is stored under (Dify: dashes become underscores)."""
    return name.replace("-", "_")


def _typed(field: WebhookField, value: Any) -> Any:
    """Query strings and form fields arrive as text: numbers and booleans declared as such are converted."""
    if not isinstance(value, str):
        return value
    try:
        if field.type == "number":
            return float(value) if any(c in value for c in ".eE") else int(value)
    except ValueError as exc:
        raise InvalidParam(f"{field.name} must be a number", params=field.name) from exc
    if field.type == "boolean":
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


class TriggerWebhookNode(StartNode):
    type = "trigger-webhook"
    data_model = WebhookData
    data: WebhookData

    def inputs_from_request(self, method: str, query: dict[str, Any], headers: dict[str, str],
                            body: Any) -> dict[str, Any]:
        """The run's inputs from one webhook call. Raises InvalidParam for a wrong method or a missing
        required part. A `text/plain` or binary body is handed whole to every declared body variable."""
        if method.lower() != self.data.method.lower():
            raise InvalidParam(f"this webhook accepts {self.data.method.upper()} requests, not {method.upper()}")
        lower = {k.lower(): v for k, v in headers.items()}
        whole = self.data.content_type in ("text/plain", "application/octet-stream")
        fields = body if isinstance(body, dict) else {}
        declared = {f.name.lower() for f in self.data.headers}
        # Credentials the caller sent stay out of the run (its inputs are stored and shown) unless declared.
        shown = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS or k.lower() in declared}
        inputs: dict[str, Any] = {"_webhook_raw": {"method": method.upper(), "headers": shown,
                                                   "query_params": dict(query), "body": body}}
        parts = (("query parameter", self.data.params, query, lambda f: f.name),
                 ("header", self.data.headers, lower, lambda f: f.name.lower()),
                 ("body field", self.data.body, {f.name: body for f in self.data.body} if whole else fields,
                  lambda f: f.name))
        for part, declared, source, key_of in parts:
            for field in declared:
                value = source.get(key_of(field))
                if value in (None, "") and field.required:
                    raise InvalidParam(f"{part} {field.name} is required", params=field.name)
                name = header_variable(field.name) if declared is self.data.headers else field.name
                inputs[name] = _typed(field, value)
        return inputs
