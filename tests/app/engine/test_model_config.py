"""Easy-mode apps as graphs: the workflow made from a `model_config` for chat, completion and agent-chat, run on
the real runner (scripted LLM, in-memory tools)."""

from __future__ import annotations

from app.engine.dsl import parse_dsl
from app.engine.graph import build_graph
from app.engine.model_config import workflow_from_model_config
from app.engine.ports import ChatTurn, NodeServices
from tests.app.engine.harness import ScriptedLLM, run

FORM = [{"text-input": {"variable": "topic", "label": "Topic", "required": True, "max_length": 40}},
        {"select": {"variable": "tone", "label": "Tone", "options": ["dry", "warm"], "default": "warm"}},
        {"external_data_tool": {"variable": "weather", "type": "api"}}]
MODEL = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {"temperature": 0.1}}


def dsl(mode: str, **config: object) -> str:
    import yaml

    return yaml.safe_dump({"app": {"name": "t", "mode": mode}, "kind": "app", "version": "0.1.5",
                           "model_config": {"model": MODEL, "user_input_form": FORM, **config}})


def test_completion_app_renders_the_form_into_the_prompt():
    doc = parse_dsl(dsl("completion", pre_prompt="Write about {{topic}}, {{tone}}; keep {{unknown}}."))
    graph = build_graph(doc.workflow, "completion")
    start = graph.start.data.variables
    assert [(v.variable, v.type, v.required) for v in start] == [("topic", "text-input", True),
                                                                 ("tone", "select", False)]
    llm = ScriptedLLM("A warm note.")
    result = run(graph, graph.start.validate_inputs({"topic": "tea"}), llm=llm)
    assert result.record("answer").outputs["answer"] == "A warm note."
    request = llm.requests[0]
    assert [(m.role, m.content) for m in request.messages] == [("user", "Write about tea, warm; keep {{unknown}}.")]
    assert request.params == {"temperature": 0.1}


def test_chat_app_uses_memory_and_the_system_prompt():
    doc = parse_dsl(dsl("chat", pre_prompt="You discuss {{topic}}.", opening_statement="Hi!",
                        suggested_questions=["Why?"]))
    assert doc.workflow.features["opening_statement"] == "Hi!"
    assert doc.workflow.features["suggested_questions"] == ["Why?"]
    graph = build_graph(doc.workflow, "chat")
    llm = ScriptedLLM()
    run(graph, {"topic": "owls", "tone": "dry"}, llm=llm, system={"query": "Do owls sleep?"},
        services=NodeServices(history=(ChatTurn("hello", "hi there"),)))
    assert [(m.role, m.content) for m in llm.requests[0].messages] == [
        ("system", "You discuss owls."), ("user", "hello"), ("assistant", "hi there"), ("user", "Do owls sleep?")]


def test_datasets_add_retrieval_and_context():
    config = {"pre_prompt": "Answer.", "dataset_configs": {"top_k": 2, "datasets": {"datasets": [
        {"dataset": {"enabled": True, "id": "ds-1"}}, {"dataset": {"enabled": False, "id": "ds-2"}}]}},
        "dataset_query_variable": "topic"}
    chat = workflow_from_model_config("chat", config)
    retrieval = chat["graph"]["nodes"][1]["data"]
    assert retrieval["type"] == "knowledge-retrieval" and retrieval["dataset_ids"] == ["ds-1"]
    assert retrieval["query_variable_selector"] == ["sys", "query"]
    llm = chat["graph"]["nodes"][2]["data"]
    assert llm["context"] == {"enabled": True, "variable_selector": ["knowledge", "result"]}
    assert "{{#context#}}" in llm["prompt_template"][0]["text"]
    completion = workflow_from_model_config("completion", config)
    assert completion["graph"]["nodes"][1]["data"]["query_variable_selector"] == ["start", "topic"]


def test_advanced_prompts_and_completion_models():
    config = {"prompt_type": "advanced", "user_input_form": FORM, "chat_prompt_config": {"prompt": [
        {"role": "system", "text": "About {{topic}}."}, {"role": "user", "text": "{{#query#}}"}]}}
    nodes = workflow_from_model_config("chat", config)["graph"]["nodes"]
    assert nodes[1]["data"]["prompt_template"] == [{"role": "system", "text": "About {{#start.topic#}}."},
                                                   {"role": "user", "text": "{{#sys.query#}}"}]
    legacy = workflow_from_model_config("chat", {"pre_prompt": "Be kind.", "model": {**MODEL, "mode": "completion"}})
    text = legacy["graph"]["nodes"][1]["data"]["prompt_template"][0]["text"]
    assert text.startswith("Be kind.") and "#histories#" in text and "#sys.query#" in text


def test_agent_chat_maps_tools_and_strategy():
    time_tool = {"enabled": True, "provider_id": "time", "provider_type": "builtin", "tool_name": "current_time",
                 "tool_parameters": {"format": "", "timezone": "UTC"}}
    dataset = {"enabled": True, "provider_type": "dataset", "tool_name": "dataset-1"}
    config = {"pre_prompt": "Use tools.", "model": MODEL,
              "agent_mode": {"enabled": True, "max_iteration": 7, "strategy": "react", "tools": [time_tool, dataset]}}
    nodes = workflow_from_model_config("agent-chat", config)["graph"]["nodes"]
    agent = nodes[1]["data"]
    assert [n["data"]["type"] for n in nodes] == ["start", "agent", "answer"]
    assert agent["agent_strategy_name"] == "ReAct"
    params = {k: v["value"] for k, v in agent["agent_parameters"].items()}
    assert params["maximum_iterations"] == 7 and params["instruction"] == "Use tools."
    assert params["query"] == "{{#sys.query#}}" and params["model"]["model"] == "gpt-4o-mini"
    assert params["tools"] == [{"enabled": True, "type": "builtin", "provider_name": "time",
                                "tool_name": "current_time", "parameters": {"timezone": {"auto": 0, "value": "UTC"}},
                                "extra": {"description": ""}}]
    assert nodes[2]["data"]["answer"] == "{{#agent.text#}}"


def test_malformed_model_configs_are_a_400_or_a_graph_never_a_crash():
    import yaml

    from app.errors import InvalidParam

    configs = ({"user_input_form": "oops"}, {"model": "gpt-4"}, {"model": {"name": 5}},
               {"agent_mode": {"tools": [{"tool_name": 3}], "max_iteration": "x"}}, {"dataset_configs": []})
    for mode, config in ((m, c) for m in ("chat", "completion", "agent-chat") for c in configs):
        text = yaml.safe_dump({"app": {"name": "t", "mode": mode}, "model_config": config})
        try:
            doc = parse_dsl(text)
            build_graph(doc.workflow, doc.app.mode)
        except InvalidParam as exc:
            assert exc.status == 400
