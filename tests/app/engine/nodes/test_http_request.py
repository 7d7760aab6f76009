"""The `http-request` node on the real runner, through the real egress client to a local server that only the
allow-list makes reachable."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from app.engine.ports import NodeServices
from app.engine.state import RunStatus
from app.providers.egress import EgressClient, EgressPolicy
from tests.app.engine.harness import chain, end, graph, node, run, start
from tests.http_sink import HttpSink, start_sink


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    server = start_sink()
    yield server
    server.close()


def services(allow: str = "127.0.0.1/32") -> NodeServices:
    return NodeServices(http=EgressClient(EgressPolicy.parse(allow)))


def http_run(inputs: dict, allow: str = "127.0.0.1/32", **data) -> object:
    g = graph([start("q"), node("h", "http-request", **data),
               end(status=["h", "status_code"], body=["h", "body"], headers=["h", "headers"])],
              chain("start", "h", "end"))
    return run(g, inputs, services=services(allow))


def echoed(result) -> dict:
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    return json.loads(result.outcome.outputs["body"])


@pytest.mark.parametrize("method", ["get", "POST", "put", "patch", "delete", "options"])
def test_methods(sink, method):
    assert echoed(http_run({"q": "x"}, method=method, url=f"{sink.url}/m"))["method"] == method.upper()


def test_head_has_status_and_headers(sink):
    result = http_run({"q": "x"}, method="head", url=f"{sink.url}/m")
    assert result.outcome.outputs["status"] == 200 and result.outcome.outputs["body"] == ""
    assert result.outcome.outputs["headers"]["content-type"] == "application/json"


def test_templated_url_headers_params_and_json_body(sink):
    body = echoed(http_run(
        {"q": "a b&c"}, method="post", url=f"{sink.url}/items/{{{{#start.q#}}}}",
        headers="X-Query:{{#start.q#}}\n\nX-Fixed: yes", params="q:{{#start.q#}}\npage:2",
        body={"type": "json", "data": [{"key": "", "type": "text", "value": '{"q": "{{#start.q#}}", "n": 1}'}]}))
    assert body["path"] == "/items/a%20b&c" or body["path"].startswith("/items/a")
    assert body["headers"]["x-query"] == "a b&c" and body["headers"]["x-fixed"] == "yes"
    assert body["query"] == {"q": ["a b&c"], "page": ["2"]}
    assert json.loads(body["body"]) == {"q": "a b&c", "n": 1}
    assert body["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(("config", "header", "expected"), [
    ({"type": "bearer", "api_key": "tok"}, "authorization", "Bearer tok"),
    ({"type": "basic", "api_key": "user:pw"}, "authorization", "Basic " + base64.b64encode(b"user:pw").decode()),
    ({"type": "custom", "api_key": "k-{{#start.q#}}", "header": "X-Api-Key"}, "x-api-key", "k-v"),
])
def test_api_key_auth(sink, config, header, expected):
    body = echoed(http_run({"q": "v"}, url=f"{sink.url}/", authorization={"type": "api-key", "config": config}))
    assert body["headers"][header] == expected


def test_form_bodies_and_old_string_data(sink):
    urlencoded = echoed(http_run({"q": "v"}, method="post", url=f"{sink.url}/", body={
        "type": "x-www-form-urlencoded", "data": [{"key": "a", "type": "text", "value": "{{#start.q#}}"}]}))
    assert urlencoded["body"] == "a=v"
    multipart = echoed(http_run({"q": "v"}, method="post", url=f"{sink.url}/", body={
        "type": "form-data", "data": [{"key": "field", "type": "text", "value": "{{#start.q#}}"}]}))
    assert multipart["headers"]["content-type"].startswith("multipart/form-data")
    assert 'name="field"' in multipart["body"] and "\r\nv\r\n" in multipart["body"]
    old = echoed(http_run({"q": "v"}, method="post", url=f"{sink.url}/",
                          body={"type": "raw-text", "data": "plain {{#start.q#}}"}))
    assert old["body"] == "plain v"


def test_invalid_json_body_fails_the_node(sink):
    result = http_run({"q": 'x"'}, method="post", url=f"{sink.url}/",
                      body={"type": "json", "data": '{"q": "{{#start.q#}}"}'})
    assert result.outcome.status == RunStatus.failed and "not valid JSON" in result.outcome.error


def test_refused_target_fails_only_the_node(sink):
    result = http_run({"q": "x"}, allow="", url=f"{sink.url}/")
    assert result.outcome.status == RunStatus.failed
    assert "refused" in result.outcome.error and "loopback" in result.outcome.error


def test_error_status_is_an_output_unless_retry_or_error_strategy(sink):
    plain = http_run({"q": "x"}, url=f"{sink.url}/status/503")
    assert plain.outcome.status == RunStatus.succeeded and plain.outcome.outputs["status"] == 503
    handled = http_run({"q": "x"}, url=f"{sink.url}/status/503", error_strategy="default-value",
                       default_value=[{"key": "status_code", "type": "number", "value": -1}])
    assert handled.outcome.outputs["status"] == -1


def test_retryable_failure_on_5xx_with_retry_config(sink):
    from app.engine.dsl import NodeSpec
    from app.engine.nodes.http_request import HttpRequestNode
    from app.errors import ProviderRequestError, WorkflowError

    spec = NodeSpec(id="h", data={"type": "http-request", "url": "x", "retry_config": {"retry_enabled": True}})
    node_ = HttpRequestNode(spec)
    with pytest.raises(ProviderRequestError):
        node_._check_status(502)
    with pytest.raises(WorkflowError):
        node_._check_status(404)


def test_file_response_goes_to_files(sink):
    g = graph([start(), node("h", "http-request", url=f"{sink.url}/file"),
               end(files=["h", "files"], body=["h", "body"])], chain("start", "h", "end"))
    outputs = run(g, {}, services=services()).outcome.outputs
    assert outputs["body"] == "" and outputs["files"][0]["mime_type"] == "image/png"


def test_without_http_port_the_node_fails_clearly():
    g = graph([start(), node("h", "http-request", url="http://example.com/"), end(s=["h", "status_code"])],
              chain("start", "h", "end"))
    outcome = run(g, {}).outcome
    assert outcome.status == RunStatus.failed and "not configured" in outcome.error
