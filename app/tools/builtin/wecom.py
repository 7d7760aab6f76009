"""The `wecom` provider: post a text or Markdown message to a WeCom (WeChat Work) group robot; `hook_key` is the
robot's webhook key, set in the node."""

from __future__ import annotations

import json

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def group_bot(call: ToolCall) -> ToolResult:
    key = call.text("hook_key").strip()
    if not key:
        raise ToolInvokeError("wecom: hook_key is required")
    kind = "markdown" if call.text("message_type") == "markdown" else "text"
    body = {"msgtype": kind, kind: {"content": call.text("content")}}
    data = call.http_json("POST", call.endpoint("https://qyapi.weixin.qq.com") + "/cgi-bin/webhook/send",
                          params=[("key", key)], headers=[("Content-Type", "application/json")],
                          content=json.dumps(body, ensure_ascii=False).encode())
    if data.get("errcode") not in (0, None):
        raise ToolInvokeError(f"wecom: the robot refused the message: {data.get('errmsg', '')}")
    return ToolResult(text="message sent", json=(data,))


WECOM = BuiltinSpec(
    provider_id="wecom", label="WeCom", aliases=("langgenius/wecom/wecom",), description="WeCom group robot.",
    tools=(BuiltinTool("wecom_group_bot", "Send a message to a WeCom group robot.", (
        Param("content", "string", True), Param("hook_key", "string", True, form="form"),
        Param("message_type", "select", options=("text", "markdown"), default="text", form="form")), group_bot),))
