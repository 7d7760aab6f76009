"""The `base64_codec` provider (the `bowenliang123/base64_codec` plugin's tools): text to Base64 and back, and a
file (an image) to Base64 text, read through the files port."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall


def encode(call: ToolCall) -> ToolResult:
    return ToolResult(text=base64.b64encode(call.text("input_text").encode()).decode())


def decode(call: ToolCall) -> ToolResult:
    try:
        raw = base64.b64decode(call.text("input_text").strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ToolInvokeError("base64_codec: the input is not Base64") from exc
    return ToolResult(text=raw.decode("utf-8", errors="replace"))


def _file(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, dict):
        raise ToolInvokeError("base64_codec: input_image must be a file")
    return value


def encode_image(call: ToolCall) -> ToolResult:
    files = call.context.files
    if files is None:
        raise ToolInvokeError("base64_codec: no file store is configured to read files")
    data = files.read(call.context.workspace_id, _file(call.arguments.get("input_image")))
    return ToolResult(text=base64.b64encode(data).decode())


BASE64_CODEC = BuiltinSpec(
    provider_id="base64_codec", label="Base64 Codec", aliases=("bowenliang123/base64_codec/base64_codec",),
    description="Encode and decode Base64.",
    tools=(
        BuiltinTool("base64_encoder", "Encode text as Base64.", (Param("input_text", "string", True),), encode),
        BuiltinTool("base64_decoder", "Decode Base64 to text.", (Param("input_text", "string", True),), decode),
        BuiltinTool("base64_image_encoder", "Encode a file (an image) as Base64 text.",
                    (Param("input_image", "file", True),), encode_image),
    ))
