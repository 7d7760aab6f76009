"""`question-classifier`: asks the model which class a query belongs to and leaves by that class's id.

The model is asked for a JSON object with `category_id`; an answer that names no known class (unparseable,
unknown id or name) selects the first class, as Dify does. Older exports spell the instruction
`instructions` and may list classes as `topics`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.engine import prompting
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.nodes.llm import ModelConfig
from app.engine.ports import ChatMessage
from app.engine.variables import references
from app.errors import WorkflowError

SYSTEM_PROMPT = (
    "You are a text classification engine. Read the input text and pick exactly one category from the list. "
    "Answer with one JSON object and nothing else: "
    '{"keywords": [up to 5 keywords from the input], "category_id": "<id>", "category_name": "<name>"}.'
)


class ClassSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str = ""


class ClassifierData(NodeData):
    model: ModelConfig
    query_variable_selector: list[str] = Field(default_factory=list)
    classes: list[ClassSpec] = Field(default_factory=list)
    instruction: str = ""

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("instruction") and data.get("instructions"):
            data["instruction"] = data["instructions"]
        if not data.get("classes") and data.get("topics"):
            data["classes"] = [t if isinstance(t, dict) else {"id": str(i + 1), "name": str(t)}
                               for i, t in enumerate(data["topics"])]
        for item in data.get("classes") or []:
            if isinstance(item, dict) and "id" in item:
                item["id"] = str(item["id"])
        return data


class QuestionClassifierNode(Node):
    type = "question-classifier"
    data_model = ClassifierData
    data: ClassifierData

    def selectors(self) -> list[list[str]]:
        found = [self.data.query_variable_selector] if self.data.query_variable_selector else []
        return found + references(self.data.instruction)

    def source_handles(self) -> list[str] | None:
        return [c.id for c in self.data.classes]

    def _pick(self, answer: str) -> ClassSpec:
        parsed = prompting.parse_json_object(answer) or {}
        by_id = {c.id: c for c in self.data.classes}
        wanted_id = str(parsed.get("category_id", "")).strip()
        if wanted_id in by_id:
            return by_id[wanted_id]
        wanted_name = str(parsed.get("category_name") or answer).strip().lower()
        for cls in self.data.classes:
            if cls.name.strip().lower() == wanted_name:
                return cls
        return self.data.classes[0]

    def run(self, ctx: NodeContext) -> NodeResult:
        if not self.data.classes:
            raise WorkflowError(f"question classifier {self.id} has no classes")
        query = ctx.pool.get(self.data.query_variable_selector)
        query_text = query if isinstance(query, str) else json.dumps(query, ensure_ascii=False, default=str)
        categories = [{"category_id": c.id, "category_name": c.name} for c in self.data.classes]
        user = (f"Input text: {query_text}\nCategories: {json.dumps(categories, ensure_ascii=False)}\n"
                f"Classification instructions: {ctx.pool.render(self.data.instruction)}")
        messages = [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user)]
        result = prompting.complete(ctx, self.data.model, messages)
        chosen = self._pick(result.text)
        usage = prompting.usage_of(result)
        return NodeResult(
            inputs={"query": query},
            process_data={"model_mode": self.data.model.mode, "model_provider": self.data.model.provider,
                          "model_name": self.data.model.name, "prompts": [m.__dict__ for m in messages],
                          "answer": result.text},
            outputs={"class_name": chosen.name, "class_id": chosen.id, "usage": usage},
            edge_handle=chosen.id, total_tokens=usage["total_tokens"],
            metadata={"total_tokens": usage["total_tokens"], "prompt_tokens": usage["prompt_tokens"],
                      "completion_tokens": usage["completion_tokens"]})
