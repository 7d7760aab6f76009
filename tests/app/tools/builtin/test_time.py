"""The `time` built-in: current time in a zone and format, weekday, conversion, timestamps."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.errors import ToolInvokeError
from tests.app.tools.builtin.calls import call


def test_current_time_uses_zone_and_format():
    text = call("time", "current_time", timezone="Asia/Shanghai", format="%Y-%m-%d %H:%M %Z").text
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    assert text.endswith("CST") and text[:10] == now.strftime("%Y-%m-%d")
    assert call("time", "current_time", timezone="UTC", format="%z").text == "+0000"


def test_current_time_with_an_unknown_zone_names_it():
    with pytest.raises(ToolInvokeError, match="Mars/Olympus"):
        call("time", "current_time", timezone="Mars/Olympus")


def test_weekday_conversion_and_timestamps_round_trip():
    assert call("time", "weekday", year="2024", month="1", day="1").text == "January 1, 2024 is Monday."
    assert call("time", "timezone_conversion", current_time="2024-05-01 12:00:00", current_timezone="UTC",
                target_timezone="Asia/Tokyo").text == "2024-05-01 21:00:00"
    stamp = call("time", "localtime_to_timestamp", localtime="2024-05-01 08:00:00", timezone="Asia/Shanghai").text
    assert stamp == "1714521600"
    assert call("time", "timestamp_to_localtime", timestamp=stamp, timezone="UTC").text == "2024-05-01 00:00:00"
    with pytest.raises(ToolInvokeError, match="YYYY-MM-DD"):
        call("time", "localtime_to_timestamp", localtime="yesterday")
