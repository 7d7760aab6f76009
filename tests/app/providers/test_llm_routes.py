"""Provider routing: the YAML config, key lookup by environment variable name, and LLMRouter picking the
endpoint and model alias for bare and plugin-qualified provider names (two real local servers)."""

from __future__ import annotations

import pytest

from app.engine.ports import ChatMessage, LLMRequest
from app.errors import InvalidParam
from app.providers.llm import LLMRouter
from app.providers.llm_routes import load_routes, parse_routes
from app.wiring import build_llm
from bench.llm_server import StubLLMServer


def test_parse_routes_normalises_names_and_reads_keys_from_env():
    text = """
providers:
  langgenius/deepseek/deepseek: {base_url: "http://d/v1", api_key_env: DS_KEY, models: {deepseek-chat: ds-v3}}
  OpenAI: {models: {gpt-3.5-turbo: gpt-4o-mini}}
"""
    routes = {r.name: r for r in parse_routes(text, {"DS_KEY": "sk-ds"})}
    assert routes["deepseek"].api_key == "sk-ds" and routes["deepseek"].base_url == "http://d/v1"
    assert routes["openai"].base_url is None and routes["openai"].models == {"gpt-3.5-turbo": "gpt-4o-mini"}
    assert "sk-ds" not in repr(routes["deepseek"])


@pytest.mark.parametrize("text", ["providers: [1, 2]", "providers: {x: {base_url: 1, typo: 2}}", "{: :"])
def test_malformed_config_is_rejected(text, tmp_path):
    with pytest.raises(InvalidParam):
        parse_routes(text, {})
    with pytest.raises(InvalidParam, match="cannot be read"):
        load_routes(tmp_path / "missing.yml", {})


def test_build_llm_routes_providers_to_their_endpoints(tmp_path, make_settings, llm_server):
    with StubLLMServer() as deepseek:
        config = tmp_path / "providers.yml"
        config.write_text(f"providers:\n  deepseek:\n    base_url: {deepseek.base_url}\n    api_key_env: DS_KEY\n"
                          "    models: {deepseek-chat: ds-chat-v3}\n  openai:\n    models: {gpt-4: stub-model}\n")
        gateway = build_llm(make_settings(llm_providers_file=config), environ={"DS_KEY": "sk-ds"})
        assert isinstance(gateway, LLMRouter)

        def ask(provider: str, model: str) -> str:
            request = LLMRequest(provider=provider, model=model, messages=(ChatMessage("user", "hi"),))
            return gateway.complete(request, lambda _: None).text

        assert ask("langgenius/deepseek/deepseek", "deepseek-chat") == "Echo: hi"
        assert ask("deepseek", "other") == "Echo: hi"
        assert [r["model"] for r in deepseek.chat_requests()] == ["ds-chat-v3", "other"]
        ask("tongyi", "qwen-max")  # no entry: the default endpoint, model unchanged
        ask("openai", "gpt-4")  # entry without base_url: default endpoint, aliased
        assert [r["model"] for r in llm_server.chat_requests()] == ["qwen-max", "stub-model"]
