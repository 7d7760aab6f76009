"""`agent`: Dify 1.x's agent node. A model works on the query with tools, round by round, up to
`maximum_iterations` rounds: the `function_calling` strategy through the model's tools API, `ReAct` through a
Thought/Action/Observation prompt for models without one. Tools are reached only through the tool port
(`ctx.services.tools`).

Every round, model call and tool call is published as an `AgentLog` (Dify's `agent_log`); the node's tokens are
the sum of all its model calls, reported with the model so the run's usage and price include every step.
Outputs are Dify's: `text` (what the model wrote, streamed live for function calling; the final answer for
ReAct), `files` and `json` (from tool results) and `usage`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine import react
from app.engine.events import AgentLog
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.nodes.llm import PASSTHROUGH_PARAMS, Memory
from app.engine.ports import ChatMessage, LLMRequest, LLMResult, ToolRef
from app.engine.toolbox import Observation, Toolbox, ToolEntry
from app.engine.variables import references
from app.errors import RunStopped, WorkflowError

# Strategy names of langgenius/agent and of the MCP agent plugins (`mcp_sse_function_calling`...).
FUNCTION_CALLING = ("function_calling", "functioncalling", "function_call")
REACT = ("react", "cot", "chain_of_thought")
DEFAULT_ITERATIONS, MAX_ITERATIONS = 3, 50


class AgentParameter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "constant"  # constant | mixed (templates) | variable (a selector)
    value: Any = None


class AgentModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider: str = "openai"
    model: str
    mode: str = "chat"
    completion_params: dict[str, Any] = Field(default_factory=dict)


class AgentData(NodeData):
    agent_strategy_provider_name: str = ""
    agent_strategy_name: str = "function_calling"
    agent_parameters: dict[str, AgentParameter] = Field(default_factory=dict)
    memory: Memory | None = None


@dataclass
class Meter:
    """Token totals of every model call of one node run."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0

    def add(self, result: LLMResult) -> None:
        self.prompt += result.usage.prompt_tokens
        self.completion += result.usage.completion_tokens
        self.calls += 1

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt, "completion_tokens": self.completion,
                "total_tokens": self.prompt + self.completion}


@dataclass
class AgentRun:
    """One node run: the context, the model, the tools and everything the rounds leave behind."""

    node: AgentNode
    ctx: NodeContext
    model: AgentModel
    toolbox: Toolbox
    meter: Meter = field(default_factory=Meter)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    def log(self, log_id: str, label: str, status: str, parent: str | None = None, **extra: Any) -> None:
        self.ctx.emit_log(AgentLog(node_id=self.node.id, id=log_id, label=label, status=status, parent_id=parent,
                                   **extra))

    def complete(self, messages: list[ChatMessage], parent: str, tools: tuple[dict[str, Any], ...] = (),
                 stop: list[str] | None = None, stream: bool = True) -> LLMResult:
        """One model call, metered and logged under the round `parent`; text deltas stream when `stream`."""
        params = {k: v for k, v in self.model.completion_params.items() if k in PASSTHROUGH_PARAMS}
        if stop:
            params["stop"] = [*(params.get("stop") or []), *stop][:4]  # OpenAI accepts four stop sequences
        request = LLMRequest(provider=self.model.provider, model=self.model.model, messages=tuple(messages),
                             mode="chat", params=params, tools=tools, tool_choice="auto" if tools else None)
        selector = (self.node.id, "text")

        def on_delta(text: str) -> None:
            if self.ctx.should_stop():
                raise RunStopped()
            if stream:
                self.ctx.emit_chunk(text, selector)

        step = str(uuid.uuid4())
        self.log(step, f"{self.model.model} Thought", "start", parent)
        result = self.ctx.llm.complete(request, on_delta)
        self.meter.add(result)
        self.log(step, f"{self.model.model} Thought", "success", parent,
                 data={"output": result.text, "tool_calls": [
                     {"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls]},
                 metadata={"provider": self.model.provider, "model": self.model.model,
                           "prompt_tokens": result.usage.prompt_tokens,
                           "completion_tokens": result.usage.completion_tokens,
                           "total_tokens": result.usage.total_tokens})
        return result

    def call_tool(self, name: str, arguments: Any, parent: str) -> Observation:
        step = str(uuid.uuid4())
        self.log(step, f"CALL {name}", "start", parent, data={"tool_name": name, "tool_input": arguments})
        if self.ctx.should_stop():
            raise RunStopped()
        observation = self.toolbox.invoke(name, arguments)
        self.observations.append(observation)
        self.log(step, f"CALL {name}", "error" if observation.error else "success", parent,
                 data={"tool_name": name, "tool_input": observation.arguments, "output": observation.text},
                 error=observation.error)
        return observation


class AgentNode(Node):
    type = "agent"
    data_model = AgentData
    data: AgentData

    def _param(self, name: str) -> AgentParameter | None:
        return self.data.agent_parameters.get(name)

    def selectors(self) -> list[list[str]]:
        found: list[list[str]] = []
        for param in self.data.agent_parameters.values():
            if param.type == "variable" and isinstance(param.value, list):
                found.append([str(p) for p in param.value])
            elif isinstance(param.value, str):
                found += references(param.value)
        return found

    def _text(self, ctx: NodeContext, name: str) -> str:
        param = self._param(name)
        if param is None or param.value is None:
            return ""
        if param.type == "variable" and isinstance(param.value, list):
            value = ctx.pool.get(param.value)
            return "" if value is None else str(value)
        return ctx.pool.render(param.value) if isinstance(param.value, str) else str(param.value)

    def _strategy(self) -> str:
        """`function_calling` or `react`. Raises WorkflowError for strategies only their plugin can run."""
        name = self.data.agent_strategy_name.strip().lower().replace("-", "_")
        provider = self.data.agent_strategy_provider_name or "langgenius/agent/agent"
        if name.endswith(FUNCTION_CALLING):
            return "function_calling"
        if name.endswith(REACT):
            return "react"
        raise WorkflowError(f"Agent strategy {self.data.agent_strategy_name!r} of plugin {provider} is not "
                            "available: the agent node runs the function_calling and ReAct strategies.")

    def _model(self) -> AgentModel:
        param = self._param("model")
        if param is None or not isinstance(param.value, dict) or not param.value.get("model"):
            raise WorkflowError(f"Agent node {self.id} has no model configured")
        return AgentModel.model_validate(param.value)

    def _iterations(self) -> int:
        param = self._param("maximum_iterations")
        try:
            wanted = int(param.value) if param is not None and param.value not in (None, "") else DEFAULT_ITERATIONS
        except (TypeError, ValueError):
            wanted = DEFAULT_ITERATIONS
        return max(1, min(MAX_ITERATIONS, wanted))

    def _tools(self) -> list[ToolEntry]:
        param = self._param("tools")
        raw = param.value if param is not None and isinstance(param.value, list) else []
        return [ToolEntry.model_validate(t) for t in raw if isinstance(t, dict)]

    def tool_refs(self) -> list[ToolRef]:
        """The tools this agent calls, so an import can report the ones not installed (MCP servers named by
        URL are resolved only when the agent runs)."""
        return [e.ref for e in self._tools() if e.enabled and e.tool_name]

    def _servers(self, ctx: NodeContext) -> list[str]:
        """MCP server URLs of the MCP agent strategies: `mcp_server` (one URL) or `mcp_servers_config` (JSON,
        `{name: {"url": ...}}`, optionally under `mcpServers`)."""
        urls = [u.strip() for u in self._text(ctx, "mcp_server").split(",") if u.strip()]
        config = self._param("mcp_servers_config")
        raw = config.value if config is not None else None
        if isinstance(raw, str) and raw.strip():
            try:
                raw = json.loads(ctx.pool.render(raw))
            except ValueError as exc:
                raise WorkflowError(f"Agent node {self.id}: mcp_servers_config is not valid JSON") from exc
        if isinstance(raw, dict):
            servers = raw.get("mcpServers", raw)
            urls += [str(s["url"]) for s in servers.values() if isinstance(s, dict) and s.get("url")]
        return urls

    def _history(self, ctx: NodeContext) -> list[ChatMessage]:
        if self.data.memory is None:
            return []
        return [m for t in self.data.memory.turns(ctx.services.history)
                for m in (ChatMessage("user", t.query), ChatMessage("assistant", t.answer)) if m.content]

    def run(self, ctx: NodeContext) -> NodeResult:
        strategy, model = self._strategy(), self._model()
        toolbox = Toolbox.build(self._tools(), ctx.services.tools, ctx.workspace_id, ctx.pool, self._servers(ctx))
        session = AgentRun(self, ctx, model, toolbox)
        instruction, query = self._text(ctx, "instruction"), self._text(ctx, "query")
        if strategy == "react":
            text = _react(session, instruction, query, self._history(ctx), self._iterations())
        else:
            text = _function_calling(session, instruction, query, self._history(ctx), self._iterations())
        usage = session.meter.usage()
        files = [f for o in session.observations if o.result for f in o.result.files]
        json_items = [j for o in session.observations if o.result for j in o.result.json]
        return NodeResult(
            inputs={"query": query, "instruction": instruction, "tools": list(toolbox.tools)},
            process_data={"model_mode": model.mode, "model_provider": model.provider, "model_name": model.model,
                          "agent_strategy": strategy, "rounds": session.rounds},
            outputs={"text": text, "files": files, "json": json_items, "usage": usage},
            total_tokens=usage["total_tokens"],
            metadata={"total_tokens": usage["total_tokens"], "prompt_tokens": usage["prompt_tokens"],
                      "completion_tokens": usage["completion_tokens"], "llm_calls": session.meter.calls})


def _round_summary(round_id: str, number: int, thought: str, observations: list[Observation]) -> dict[str, Any]:
    return {"id": round_id, "round": number, "thought": thought,
            "tools": [{"tool": o.tool, "input": o.arguments, "observation": o.text} for o in observations]}


def _function_calling(session: AgentRun, instruction: str, query: str, history: list[ChatMessage],
                      rounds: int) -> str:
    """Call the model with the tools until it answers without calling any; the last round offers no tools, so
    the model must answer. `text` is everything the model wrote, in order (as streamed)."""
    messages = [*([ChatMessage("system", instruction)] if instruction.strip() else []), *history,
                ChatMessage("user", query)]
    texts: list[str] = []
    for number in range(1, rounds + 1):
        round_id = str(uuid.uuid4())
        session.log(round_id, f"ROUND {number}", "start")
        offered = session.toolbox.functions() if number < rounds else ()
        result = session.complete(messages, round_id, tools=offered)
        texts.append(result.text)
        calls = result.tool_calls if offered else ()
        observations = [session.call_tool(c.name, c.arguments, round_id) for c in calls]
        summary = _round_summary(round_id, number, result.text, observations)
        session.rounds.append(summary)
        session.log(round_id, f"ROUND {number}", "success", data=summary)
        if not calls:
            break
        messages.append(ChatMessage("assistant", result.text, tool_calls=calls))
        messages += [ChatMessage("tool", o.text, tool_call_id=c.id) for c, o in zip(calls, observations, strict=True)]
    return "".join(texts)


def _react(session: AgentRun, instruction: str, query: str, history: list[ChatMessage], rounds: int) -> str:
    """Thought/Action/Observation rounds in plain text; the final answer is streamed once it is known. In the
    last round the model is told to answer; an action it still writes then is not run."""
    messages = [ChatMessage("system", react.system_prompt(instruction, session.toolbox.functions())), *history,
                ChatMessage("user", query)]
    answer = ""
    for number in range(1, rounds + 1):
        round_id = str(uuid.uuid4())
        session.log(round_id, f"ROUND {number}", "start")
        if number == rounds and number > 1:
            last = messages[-1]
            messages[-1] = ChatMessage(last.role, f"{last.content}\nThis is the last step: write your Final Answer.")
        result = session.complete(messages, round_id, stop=[react.STOP], stream=False)
        step = react.parse(result.text)
        run_action = step.action is not None and number < rounds
        observations = [session.call_tool(step.action or "", step.action_input, round_id)] if run_action else []
        summary = _round_summary(round_id, number, step.thought, observations)
        session.rounds.append(summary)
        session.log(round_id, f"ROUND {number}", "success", data=summary)
        if not run_action:
            answer = step.final or step.thought or result.text.strip()
            break
        messages += [ChatMessage("assistant", result.text.strip()),
                     ChatMessage("user", f"{react.STOP} {observations[0].text}")]
    if answer:
        session.ctx.emit_chunk(answer, (session.node.id, "text"))
    return answer
