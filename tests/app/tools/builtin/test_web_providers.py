"""The web built-ins (webscraper, jina, tavily, wikipedia, searxng, arxiv, wecom) against a local server the test
starts, through the real egress guard with 127.0.0.1 allowed; never the internet."""

from __future__ import annotations

import json

import pytest

from app.errors import ToolCredentialsMissing, ToolInvokeError
from app.providers.egress import EgressClient, EgressPolicy
from app.tools.provider import ProviderContext
from tests.app.tools.builtin.calls import call

PAGE = b"""<html><head><title>Hello page</title><script>var x = 1;</script></head>
<body><nav>menu</nav><article><h1>Big news</h1><p>First <b>para</b>.</p></article></body></html>"""


def test_webscraper_returns_readable_markdown(web):
    web.routes["/page"] = (200, "text/html; charset=utf-8", PAGE)
    result = call("webscraper", "webscraper", web.context(), url=f"{web.url}/page", user_agent="UA/1")
    assert result.text.startswith("# Hello page") and "# Big news" in result.text and "First **para**." in result.text
    assert "var x" not in result.text and "menu" not in result.text
    assert web.requests[0].headers["user-agent"] == "UA/1"


def test_the_egress_guard_applies(web):
    web.routes["/page"] = (200, "text/html", PAGE)
    closed = ProviderContext(http=EgressClient(EgressPolicy.parse("")), timeout_seconds=5.0)
    with pytest.raises(ToolInvokeError, match="not a public address"):
        call("webscraper", "webscraper", closed, url=f"{web.url}/page")
    assert not web.requests


def test_jina_reader_flags_and_key_and_search(web):
    web.routes["/*"] = (200, "text/plain", b"# page as markdown")
    result = call("jina", "jina_reader", web.context("jina"), credentials={"api_key": "jina_k"},
                  url="https://example.com/a", no_cache="1", target_selector="#main", image_caption=0)
    assert result.text == "# page as markdown"
    sent = web.requests[0]
    assert sent.path == "/https://example.com/a" and sent.headers["authorization"] == "Bearer jina_k"
    assert sent.headers["x-no-cache"] == "true" and sent.headers["x-target-selector"] == "#main"
    assert "x-with-generated-alt" not in sent.headers
    call("jina", "jina_search", web.context("jina"), query="what is dify")
    assert web.requests[1].path == "/what is dify" and "authorization" not in web.requests[1].headers


def test_tavily_needs_its_key_and_sends_options(web):
    web.json_route("/search", {"answer": "42", "results": [{"title": "T", "url": "https://t", "content": "C"}]})
    with pytest.raises(ToolCredentialsMissing, match="api_key"):
        call("tavily", "tavily_search", web.context("tavily"), query="q")
    result = call("tavily", "tavily_search", web.context("tavily"), credentials={"api_key": "tvly-secret"},
                  query="life", max_results="3", include_answer=1, search_depth="basic", include_domains=None)
    assert result.text.startswith("Answer: 42") and "# T\nhttps://t\nC" in result.text
    body = web.requests[0].json()
    assert body == {"query": "life", "max_results": 3, "include_answer": True, "search_depth": "basic",
                    "include_images": False, "include_raw_content": False}
    assert web.requests[0].headers["authorization"] == "Bearer tvly-secret"


def test_tavily_error_status_names_the_service_not_the_key(web):
    web.json_route("/search", {"detail": "bad key"}, status=401)
    with pytest.raises(ToolInvokeError) as info:
        call("tavily", "tavily_search", web.context("tavily"), credentials={"api_key": "tvly-secret"}, query="q")
    assert "401" in info.value.message and "tvly-secret" not in info.value.message


def test_wikipedia_search_with_language_names(web):
    web.json_route("/w/api.php", {"query": {"pages": {
        "2": {"index": 2, "title": "Second", "extract": "Two."},
        "1": {"index": 1, "title": "First", "extract": "One."}}}})
    result = call("wikipedia", "wikipedia_search", web.context("wikipedia"), query="dify", language="English")
    assert result.text == "Page: First\nSummary: One.\n\nPage: Second\nSummary: Two."
    assert web.requests[0].query["gsrsearch"] == ["dify"]


def test_searxng_uses_the_instance_credential(web):
    web.json_route("/search", {"results": [{"title": f"R{i}", "url": f"https://r/{i}", "content": "c"}
                                           for i in range(4)]})
    with pytest.raises(ToolCredentialsMissing):
        call("searxng", "searxng_search", query="q")
    result = call("searxng", "searxng_search", web.context(), credentials={"searxng_base_url": web.url + "/"},
                  query="q", num_results="2", result_type="link")
    assert result.text == "R0: https://r/0\nR1: https://r/1"
    assert web.requests[0].query["format"] == ["json"]


def test_arxiv_parses_the_atom_feed(web):
    feed = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/1</id>
    <title>Attention Is
     All You Need</title><published>2017-06-12T00:00:00Z</published><summary>Transformers.</summary>
    <author><name>A. Vaswani</name></author></entry></feed>"""
    web.routes["/api/query"] = (200, "application/atom+xml", feed)
    result = call("arxiv", "arxiv_search", web.context("arxiv"), query="attention")
    assert "Title: Attention Is All You Need" in result.text and "Authors: A. Vaswani" in result.text
    assert web.requests[0].query["search_query"] == ["all:attention"]


def test_wecom_posts_to_the_robot(web):
    web.json_route("/cgi-bin/webhook/send", {"errcode": 0, "errmsg": "ok"})
    call("wecom", "wecom_group_bot", web.context("wecom"), content="**hi**", hook_key="k1", message_type="markdown")
    assert web.requests[0].query["key"] == ["k1"]
    assert json.loads(web.requests[0].body) == {"msgtype": "markdown", "markdown": {"content": "**hi**"}}
    web.json_route("/cgi-bin/webhook/send", {"errcode": 93000, "errmsg": "invalid webhook url"})
    with pytest.raises(ToolInvokeError, match="invalid webhook"):
        call("wecom", "wecom_group_bot", web.context("wecom"), content="x", hook_key="k1")


def test_duckduckgo_search_parses_results_and_skips_ads(web):
    page = b"""<html><body>
    <div class="result result--ad"><a class="result__a" href="https://ad">Ad</a></div>
    <div class="result"><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fdify.ai%2F&rut=x">Dify
    <b>AI</b></a><a class="result__snippet">Build apps.</a></div>
    <div class="result"><a class="result__a" href="https://two">Two</a></div></body></html>"""
    web.routes["/html/"] = (200, "text/html", page)
    result = call("duckduckgo", "ddgo_search", web.context("duckduckgo"), query="dify", max_results="5")
    assert result.json[0]["results"] == [{"title": "Dify AI", "href": "https://dify.ai/", "body": "Build apps."},
                                         {"title": "Two", "href": "https://two", "body": ""}]
    assert web.requests[0].method == "POST" and web.requests[0].body == b"q=dify&b="


def test_google_translate_joins_the_translated_segments(web):
    web.json_route("/translate_a/single", [[["Hello ", "你好", None], ["world", "世界", None]], None, "zh-CN"])
    result = call("google_translate", "translate", web.context("google_translate"), content="你好世界", dest="en")
    assert result.text == "Hello world"
    assert web.requests[0].query["tl"] == ["en"] and web.requests[0].query["q"] == ["你好世界"]
