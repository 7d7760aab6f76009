"""`parameter-extractor`: asks the model to fill declared parameters from a query and outputs them, plus
`__is_success` (1/0), `__reason` (why extraction failed, else None) and `__usage`.

`reasoning_mode: function_call` asks for a JSON object through the endpoint's JSON mode (`response_format`),
which every OpenAI-compatible server speaks, instead of a tool call; `prompt` mode asks for the same object in
plain text. Either way a missing required parameter or a value of the wrong type is not a node failure:
the node succeeds with `__is_success: 0`, defaults for the parameters and the reason, as in Dify.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine import prompting
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.nodes.llm import ModelConfig
from app.engine.ports import ChatMessage
from app.engine.variables import references

DEFAULTS: dict[str, Any] = {"number": 0, "bool": False, "boolean": False, "string": "", "select": ""}
JSON_TYPES = {"string": "string", "select": "string", "number": "number", "bool": "boolean", "boolean": "boolean",
              "object": "object"}


class Parameter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    options: list[str] = Field(default_factory=list)

    def schema(self) -> dict[str, Any]:
        if self.type.startswith("array"):
            inner = self.type[len("array["):-1] if "[" in self.type else "string"
            return {"type": "array", "items": {"type": JSON_TYPES.get(inner, "string")},
                    "description": self.description}
        schema: dict[str, Any] = {"type": JSON_TYPES.get(self.type, "string"), "description": self.description}
        if self.type == "select" and self.options:
            schema["enum"] = self.options
        return schema


class ExtractorData(NodeData):
    model: ModelConfig
    query: list[str] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    instruction: str = ""
    reasoning_mode: str = "function_call"


class ExtractionError(ValueError):
    pass


def _coerce(param: Parameter, value: Any) -> Any:
    """The value as the declared type; raises ExtractionError when it cannot be."""
    kind = param.type
    if kind == "number":
        if isinstance(value, bool):
            raise ExtractionError(f"{param.name} must be a number")
        if isinstance(value, int | float):
            return value
        try:
            text = str(value).strip()
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError as exc:
            raise ExtractionError(f"{param.name} must be a number") from exc
    if kind in ("bool", "boolean"):
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        raise ExtractionError(f"{param.name} must be a boolean")
    if kind == "select":
        if param.options and str(value) not in param.options:
            raise ExtractionError(f"{param.name} must be one of {param.options}")
        return str(value)
    if kind.startswith("array"):
        if not isinstance(value, list):
            raise ExtractionError(f"{param.name} must be an array")
        return value
    return value if isinstance(value, str | dict) else json.dumps(value, ensure_ascii=False)


class ParameterExtractorNode(Node):
    type = "parameter-extractor"
    data_model = ExtractorData
    data: ExtractorData

    def selectors(self) -> list[list[str]]:
        return ([self.data.query] if self.data.query else []) + references(self.data.instruction)

    def _schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {p.name: p.schema() for p in self.data.parameters},
                "required": [p.name for p in self.data.parameters if p.required]}

    def _messages(self, ctx: NodeContext, query: str) -> list[ChatMessage]:
        system = ("You extract structured parameters from text. Reply with a single JSON object that follows "
                  f"this JSON schema, and nothing else:\n{json.dumps(self._schema(), ensure_ascii=False)}\n"
                  "Leave out parameters the text does not mention.")
        instruction = ctx.pool.render(self.data.instruction)
        if instruction:
            system += f"\nInstructions: {instruction}"
        return [ChatMessage("system", system), ChatMessage("user", f"Text: {query}")]

    def _extract(self, answer: str) -> dict[str, Any]:
        parsed = prompting.parse_json_object(answer)
        if parsed is None:
            raise ExtractionError("the model did not answer with a JSON object")
        values: dict[str, Any] = {}
        for param in self.data.parameters:
            if parsed.get(param.name) is None:
                if param.required:
                    raise ExtractionError(f"parameter {param.name} is required but was not extracted")
                continue
            values[param.name] = _coerce(param, parsed[param.name])
        return values

    def _defaults(self) -> dict[str, Any]:
        return {p.name: [] if p.type.startswith("array") else DEFAULTS.get(p.type) for p in self.data.parameters}

    def run(self, ctx: NodeContext) -> NodeResult:
        query = ctx.pool.get(self.data.query)
        query_text = query if isinstance(query, str) else json.dumps(query, ensure_ascii=False, default=str)
        messages = self._messages(ctx, query_text)
        json_mode = {"type": "json_object"} if self.data.reasoning_mode == "function_call" else None
        result = prompting.complete(ctx, self.data.model, messages, json_mode)
        usage = prompting.usage_of(result)
        outputs = self._defaults()
        try:
            outputs.update(self._extract(result.text))
            outputs.update({"__is_success": 1, "__reason": None})
        except ExtractionError as exc:
            outputs.update({"__is_success": 0, "__reason": str(exc)})
        outputs["__usage"] = usage
        return NodeResult(
            inputs={"query": query, "parameters": [p.model_dump() for p in self.data.parameters],
                    "instruction": self.data.instruction},
            process_data={"model_mode": self.data.model.mode, "model_provider": self.data.model.provider,
                          "model_name": self.data.model.name, "reasoning_mode": self.data.reasoning_mode,
                          "prompts": [m.__dict__ for m in messages], "answer": result.text},
            outputs=outputs, total_tokens=usage["total_tokens"],
            metadata={"total_tokens": usage["total_tokens"], "prompt_tokens": usage["prompt_tokens"],
                      "completion_tokens": usage["completion_tokens"]})
