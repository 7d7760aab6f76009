"""`llm`: renders the prompt, calls the model through the LLM port, streams text chunks and counts tokens."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.ports import ChatMessage, LLMRequest
from app.engine.templating import render_jinja
from app.engine.variables import references
from app.errors import RunStopped


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider: str = "openai"
    name: str
    mode: str = "chat"
    completion_params: dict[str, Any] = Field(default_factory=dict)


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str = "user"
    text: str = ""
    edition_type: str = "basic"  # basic | jinja2
    jinja2_text: str | None = None


class Toggle(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    variable_selector: list[str] = Field(default_factory=list)


class VariableRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable: str
    value_selector: list[str] = Field(default_factory=list)


class PromptConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    jinja2_variables: list[VariableRef] = Field(default_factory=list)


class LLMData(NodeData):
    model: ModelConfig
    prompt_template: list[PromptMessage] | PromptMessage = Field(default_factory=list)
    prompt_config: PromptConfig = Field(default_factory=PromptConfig)
    context: Toggle = Field(default_factory=Toggle)

    def messages(self) -> list[PromptMessage]:
        return self.prompt_template if isinstance(self.prompt_template, list) else [self.prompt_template]


# Dify's completion params that map one to one onto the OpenAI chat API.
PASSTHROUGH_PARAMS = ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty", "stop", "seed")


class LLMNode(Node):
    type = "llm"
    data_model = LLMData
    data: LLMData

    def selectors(self) -> list[list[str]]:
        found = [ref for m in self.data.messages() for ref in references(m.text)]
        found += [v.value_selector for v in self.data.prompt_config.jinja2_variables if v.value_selector]
        if self.data.context.enabled and self.data.context.variable_selector:
            found.append(self.data.context.variable_selector)
        return [s for s in found if s[0] != "context"]

    def _render(self, ctx: NodeContext, message: PromptMessage, context_text: str) -> str:
        if message.edition_type == "jinja2":
            values = {v.variable: ctx.pool.get(v.value_selector) for v in self.data.prompt_config.jinja2_variables}
            return render_jinja(message.jinja2_text or message.text, values)
        return ctx.pool.render(message.text.replace("{{#context#}}", context_text))

    def run(self, ctx: NodeContext) -> NodeResult:
        context_text = ""
        if self.data.context.enabled and self.data.context.variable_selector:
            value = ctx.pool.get(self.data.context.variable_selector)
            context_text = value if isinstance(value, str) else ("" if value is None else str(value))
        messages = tuple(ChatMessage(role=m.role, content=self._render(ctx, m, context_text))
                         for m in self.data.messages())
        params = {k: v for k, v in self.data.model.completion_params.items() if k in PASSTHROUGH_PARAMS}
        request = LLMRequest(provider=self.data.model.provider, model=self.data.model.name, messages=messages,
                             mode=self.data.model.mode, params=params)
        selector = (self.id, "text")

        def on_delta(text: str) -> None:
            if ctx.should_stop():
                raise RunStopped()
            ctx.emit_chunk(text, selector)

        result = ctx.llm.complete(request, on_delta)
        usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
                 "total_tokens": result.usage.total_tokens}
        return NodeResult(
            inputs={},
            process_data={"model_mode": request.mode, "model_provider": request.provider, "model_name": request.model,
                          "prompts": [{"role": m.role, "text": m.content} for m in messages]},
            outputs={"text": result.text, "usage": usage, "finish_reason": result.finish_reason},
            total_tokens=result.usage.total_tokens,
            metadata={"total_tokens": result.usage.total_tokens, "prompt_tokens": result.usage.prompt_tokens,
                      "completion_tokens": result.usage.completion_tokens},
        )
