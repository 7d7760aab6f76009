"""The `time` provider (Dify's built-in and the `langgenius/time/time` plugin): current time in a zone and format,
weekday of a date, time-zone conversion, local time <-> Unix timestamp. Needs no account and no network."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolInvokeError(f"time: unknown time zone {name!r}") from exc


def current_time(call: ToolCall) -> ToolResult:
    fmt = call.text("format") or "%Y-%m-%d %H:%M:%S %Z"
    return ToolResult(text=datetime.now(_zone(call.text("timezone"))).strftime(fmt))


def weekday(call: ToolCall) -> ToolResult:
    try:
        day = datetime(int(call.arguments["year"]), int(call.arguments["month"]), int(call.arguments["day"]))
    except (TypeError, ValueError, KeyError) as exc:
        raise ToolInvokeError("time: year, month and day must form a valid date") from exc
    return ToolResult(text=f"{calendar.month_name[day.month]} {day.day}, {day.year} is "
                           f"{calendar.day_name[day.weekday()]}.")


def _parse_local(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), LOCAL_FORMAT)
    except ValueError as exc:
        raise ToolInvokeError(f"time: {text!r} is not a time in the form YYYY-MM-DD HH:MM:SS") from exc


def timezone_conversion(call: ToolCall) -> ToolResult:
    local = _parse_local(call.text("current_time")).replace(tzinfo=_zone(call.text("current_timezone")))
    return ToolResult(text=local.astimezone(_zone(call.text("target_timezone"))).strftime(LOCAL_FORMAT))


def localtime_to_timestamp(call: ToolCall) -> ToolResult:
    zone = _zone(call.text("timezone") or "Asia/Shanghai")
    return ToolResult(text=str(int(_parse_local(call.text("localtime")).replace(tzinfo=zone).timestamp())))


def timestamp_to_localtime(call: ToolCall) -> ToolResult:
    try:
        moment = datetime.fromtimestamp(float(call.arguments["timestamp"]), UTC)
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ToolInvokeError("time: timestamp must be a number of seconds since 1970") from exc
    zone = _zone(call.text("timezone") or "Asia/Shanghai")
    return ToolResult(text=moment.astimezone(zone).strftime(LOCAL_FORMAT))


TIMEZONE = Param("timezone", "string", description="IANA time zone, e.g. Asia/Shanghai", default="UTC", form="form")

TIME = BuiltinSpec(
    provider_id="time", label="Time", aliases=("langgenius/time/time",),
    description="Current time, weekdays, time zones and timestamps.",
    tools=(
        BuiltinTool("current_time", "The current time in a time zone and format.", (
            Param("format", "string", description="strftime format", default="%Y-%m-%d %H:%M:%S %Z", form="form"),
            TIMEZONE), current_time),
        BuiltinTool("weekday", "The day of the week of a date.", (
            Param("year", "integer", True), Param("month", "integer", True), Param("day", "integer", True)),
            weekday),
        BuiltinTool("timezone_conversion", "Convert a local time from one time zone to another.", (
            Param("current_time", "string", True, "YYYY-MM-DD HH:MM:SS"),
            Param("current_timezone", "string", True), Param("target_timezone", "string", True)),
            timezone_conversion),
        BuiltinTool("localtime_to_timestamp", "A local time (YYYY-MM-DD HH:MM:SS) as a Unix timestamp.", (
            Param("localtime", "string", True, "YYYY-MM-DD HH:MM:SS"),
            Param("timezone", "string", description="IANA time zone (default Asia/Shanghai)")),
            localtime_to_timestamp),
        BuiltinTool("timestamp_to_localtime", "A Unix timestamp as local time (YYYY-MM-DD HH:MM:SS).", (
            Param("timestamp", "number", True), Param("timezone", "string", description="IANA time zone")),
            timestamp_to_localtime),
    ))
