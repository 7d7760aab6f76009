"""`llm`: renders the prompt, calls the model through the LLM port, streams text chunks and counts tokens."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.ports import ChatMessage, ChatTurn, LLMRequest
from app.engine.templating import render_jinja
from app.engine.variables import REFERENCE, VariablePool, references, to_text
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


class MemoryWindow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    size: int | None = None


class RolePrefix(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str = "Human"
    assistant: str = "Assistant"


class Memory(BaseModel):
    """Chatflow memory: earlier turns of the conversation (the last `window.size` when enabled, else all the
    worker loaded) go before the current query, which `query_prompt_template` renders (`sys.query` if empty)."""

    model_config = ConfigDict(extra="ignore")

    window: MemoryWindow = Field(default_factory=MemoryWindow)
    query_prompt_template: str | None = None
    role_prefix: RolePrefix = Field(default_factory=RolePrefix)

    def turns(self, history: tuple[ChatTurn, ...]) -> list[ChatTurn]:
        if self.window.enabled and self.window.size and self.window.size > 0:
            return list(history[-self.window.size:])
        return list(history)

    def query(self, pool: VariablePool) -> str:
        # Missing references and empty file lists render as nothing (Dify's default template names files).
        def value(match: Any) -> str:
            found = pool.get(match.group(1).split("."))
            return "" if found in (None, []) else to_text(found)

        return REFERENCE.sub(value, self.query_prompt_template or "{{#sys.query#}}").strip()


class LLMData(NodeData):
    model: ModelConfig
    prompt_template: list[PromptMessage] | PromptMessage = Field(default_factory=list)
    prompt_config: PromptConfig = Field(default_factory=PromptConfig)
    context: Toggle = Field(default_factory=Toggle)
    memory: Memory | None = None

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

    def _with_memory(self, ctx: NodeContext, memory: Memory,
                     messages: tuple[ChatMessage, ...]) -> tuple[ChatMessage, ...]:
        """Dify's memory: history after the prompt and the query last (chat); in completion mode the
        `#histories#` and `#sys.query#` placeholders of the single prompt are filled instead."""
        turns, query = memory.turns(ctx.services.history), memory.query(ctx.pool)
        if self.data.model.mode == "completion" and messages:
            prefix = memory.role_prefix
            histories = "\n".join(f"{prefix.user}: {t.query}\n{prefix.assistant}: {t.answer}" for t in turns)
            text = messages[0].content
            text = text.replace("#histories#", histories) if "#histories#" in text else (
                f"{histories}\n{text}" if histories else text)
            return (ChatMessage(messages[0].role, text.replace("#sys.query#", query)), *messages[1:])
        history = [m for t in turns for m in (ChatMessage("user", t.query), ChatMessage("assistant", t.answer))
                   if m.content]
        return (*messages, *history, *([ChatMessage("user", query)] if query else []))

    def run(self, ctx: NodeContext) -> NodeResult:
        context_text = ""
        if self.data.context.enabled and self.data.context.variable_selector:
            context_text = context_as_text(ctx.pool.get(self.data.context.variable_selector))
        messages = tuple(ChatMessage(role=m.role, content=self._render(ctx, m, context_text))
                         for m in self.data.messages())
        if self.data.memory is not None:
            messages = self._with_memory(ctx, self.data.memory, messages)
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


def context_as_text(value: Any) -> str:
    """The `{{#context#}}` text: retrieval results (a list of chunks) join their contents, one per paragraph,
    as Dify does; strings pass through; anything else is shown as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [str(item.get("content", "")) if isinstance(item, dict) else to_text(item) for item in value]
        return "\n".join(p for p in parts if p)
    return to_text(value)
