"""Dify's "easy" app modes as graphs. `chat`, `completion` and `agent-chat` apps are exported with a
`model_config` block (a model, a prompt, a form, tools) instead of a workflow; this module turns that block into
the equivalent workflow, so one engine runs every mode:

- chat:       start -> [knowledge-retrieval] -> llm (pre_prompt as system prompt, conversation memory) -> answer
- completion: start (the form's variables) -> [knowledge-retrieval] -> llm (pre_prompt as the prompt) -> answer
- agent-chat: start -> agent (agent_mode's tools and strategy, pre_prompt as instruction, memory) -> answer

The app-level settings (opening statement, suggested questions, file upload...) become the workflow's
`features`, where the chatflow endpoints already read them. Pure data in, data out; no I/O.
"""

from __future__ import annotations

import re
from typing import Any

EASY_MODES = ("chat", "completion", "agent-chat")
FEATURE_KEYS = ("opening_statement", "suggested_questions", "suggested_questions_after_answer", "speech_to_text",
                "text_to_speech", "retriever_resource", "sensitive_word_avoidance", "file_upload", "more_like_this")
FORM_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "file", "file-list", "json_object")
CONTEXT_PROMPT = ("Use the following context as your knowledge, inside <context></context> tags.\n"
                  "<context>\n{{#context#}}\n</context>\n\n")
STRATEGIES = {"function_call": "function_calling", "react": "ReAct"}

_SIMPLE_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _form(config: dict[str, Any]) -> list[dict[str, Any]]:
    """`user_input_form` (`[{"text-input": {...}}, ...]`) as start-node variables."""
    variables = []
    for item in config.get("user_input_form") or []:
        if not isinstance(item, dict) or not item:
            continue
        kind, spec = next(iter(item.items()))
        if kind not in FORM_TYPES or not isinstance(spec, dict) or not spec.get("variable"):
            continue  # external data tools and unknown widgets have no value to pass
        variables.append({"variable": spec["variable"], "label": spec.get("label") or spec["variable"],
                          "type": kind, "required": bool(spec.get("required")),
                          "max_length": spec.get("max_length") or None, "options": spec.get("options") or [],
                          "default": spec.get("default")})
    return variables


def _template(text: str, names: set[str]) -> str:
    """Easy-mode prompt text in workflow syntax: `{{var}}` of a form variable -> `{{#start.var#}}`,
    `{{#query#}}` -> `{{#sys.query#}}`, `{{#histories#}}` -> the LLM node's `#histories#` placeholder."""
    text = _SIMPLE_VAR.sub(lambda m: f"{{{{#start.{m.group(1)}#}}}}" if m.group(1) in names else m.group(0), text)
    return text.replace("{{#query#}}", "{{#sys.query#}}").replace("{{#histories#}}", "#histories#")


def _datasets(config: dict[str, Any]) -> list[str]:
    found = []
    for item in ((config.get("dataset_configs") or {}).get("datasets") or {}).get("datasets") or []:
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if isinstance(dataset, dict) and dataset.get("id") and dataset.get("enabled", True):
            found.append(str(dataset["id"]))
    return found


def _model(config: dict[str, Any]) -> dict[str, Any]:
    model = config.get("model") or {}
    return {"provider": model.get("provider") or "openai", "name": model.get("name") or "",
            "mode": model.get("mode") or "chat", "completion_params": model.get("completion_params") or {}}


def _prompts(mode: str, config: dict[str, Any], names: set[str], with_context: bool) -> list[dict[str, Any]]:
    """The LLM node's prompt messages for a chat or completion app (simple or advanced prompt)."""
    context = CONTEXT_PROMPT if with_context else ""
    if config.get("prompt_type") == "advanced":
        chat = (config.get("chat_prompt_config") or {}).get("prompt") or []
        if chat:
            return [{"role": m.get("role") or "user", "text": _template(str(m.get("text") or ""), names)}
                    for m in chat if isinstance(m, dict)]
        single = ((config.get("completion_prompt_config") or {}).get("prompt") or {}).get("text")
        if single:
            return [{"role": "user", "text": context + _template(str(single), names)}]
    pre = _template(str(config.get("pre_prompt") or ""), names)
    if mode == "completion":
        return [{"role": "user", "text": context + pre}]
    if _model(config)["mode"] == "completion":  # a chat app on a completion model: one prompt with history
        return [{"role": "user", "text": f"{context}{pre}\n\n#histories#\nHuman: #sys.query#\nAssistant: "}]
    return [{"role": "system", "text": context + pre}] if (context + pre).strip() else []


def _node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": node_type, "title": node_id.upper(), **data}}


def _agent(config: dict[str, Any], names: set[str]) -> dict[str, Any]:
    agent_mode = config.get("agent_mode") or {}
    tools = []
    for tool in agent_mode.get("tools") or []:
        if not isinstance(tool, dict) or not tool.get("tool_name") or tool.get("provider_type") == "dataset":
            continue
        # In agent apps the author's form values are fixed; the model fills the parameters left out.
        fixed = {k: {"auto": 0, "value": v} for k, v in (tool.get("tool_parameters") or {}).items()
                 if v not in (None, "")}
        tools.append({"enabled": tool.get("enabled", True), "type": str(tool.get("provider_type") or "builtin"),
                      "provider_name": str(tool.get("provider_id") or tool.get("provider_name") or ""),
                      "tool_name": str(tool["tool_name"]), "parameters": fixed, "extra": {"description": ""}})
    model = _model(config)
    params = {
        "model": {"provider": model["provider"], "model": model["name"], "mode": model["mode"],
                  "completion_params": model["completion_params"]},
        "instruction": _template(str(config.get("pre_prompt") or ""), names),
        "query": "{{#sys.query#}}", "tools": tools, "maximum_iterations": agent_mode.get("max_iteration") or 5}
    strategy = STRATEGIES.get(str(agent_mode.get("strategy") or "function_call").lower(), "function_calling")
    return _node("agent", "agent", agent_strategy_provider_name="langgenius/agent/agent",
                 agent_strategy_name=strategy, memory={"window": {"enabled": False}},
                 agent_parameters={k: {"type": "constant", "value": v} for k, v in params.items()})


def workflow_from_model_config(mode: str, config: dict[str, Any]) -> dict[str, Any]:
    """The workflow (graph and features, as the DSL's `workflow` block) equivalent to an easy-mode app."""
    variables = _form(config)
    names = {v["variable"] for v in variables}
    nodes = [_node("start", "start", variables=variables)]
    datasets = _datasets(config) if mode != "agent-chat" else []
    if datasets:
        query = ["sys", "query"] if mode == "chat" else ["start", str(config.get("dataset_query_variable") or "")]
        retrieval = (config.get("dataset_configs") or {})
        nodes.append(_node("knowledge", "knowledge-retrieval", query_variable_selector=query, dataset_ids=datasets,
                           retrieval_mode="multiple",
                           multiple_retrieval_config={"top_k": retrieval.get("top_k") or 4,
                                                      "score_threshold": retrieval.get("score_threshold")}))
    if mode == "agent-chat":
        nodes.append(_agent(config, names))
    else:
        llm: dict[str, Any] = {
            "model": _model(config), "prompt_template": _prompts(mode, config, names, bool(datasets)),
            "context": {"enabled": bool(datasets), "variable_selector": ["knowledge", "result"] if datasets else []}}
        if mode == "chat":
            llm["memory"] = {"window": {"enabled": False}}
        nodes.append(_node("llm", "llm", **llm))
    worker = nodes[-1]["id"]
    nodes.append(_node("answer", "answer", answer=f"{{{{#{worker}.text#}}}}"))
    edges = [{"id": f"{a['id']}-{b['id']}", "source": a["id"], "target": b["id"], "sourceHandle": "source"}
             for a, b in zip(nodes, nodes[1:], strict=False)]
    features = {k: config[k] for k in FEATURE_KEYS if k in config}
    return {"graph": {"nodes": nodes, "edges": edges}, "features": features}
