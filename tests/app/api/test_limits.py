"""Size and paging limits of the HTTP API: request body (413), DSL size (413), one input variable
(MAX_VARIABLE_BYTES, 400 invalid_param naming it), and the page-size cap of every list endpoint (400 past it)."""

from __future__ import annotations

import pytest

from app import create_app
from tests.app.api.test_chat import CHATFLOW
from tests.conftest import ADMIN, ADMIN_HEADERS, SAMPLES, app_key, build_test_container, import_app

HELLO = (SAMPLES / "hello.yml").read_text()
VAR_LIMIT = 2000


def echo_workflow(mode: str = "workflow") -> dict:
    """start(text: paragraph, no max_length; blob: json) -> end(text)."""
    return {"app": {"name": "echo", "mode": mode}, "kind": "app", "version": "0.3.1",
            "workflow": {"graph": {"nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
                    {"variable": "text", "label": "Text", "type": "paragraph", "required": False}]}},
                {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
                    {"variable": "text", "value_selector": ["start", "text"]}]}}],
                "edges": [{"source": "start", "target": "end"}]}}}


@pytest.fixture
def limited(make_settings):
    container = build_test_container(make_settings(max_variable_bytes=VAR_LIMIT, max_dsl_bytes=20_000,
                                                   max_request_bytes=200_000))
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    yield app.test_client()
    container.close()


def run(client, headers, inputs):
    return client.post("/v1/workflows/run", headers=headers,
                       json={"inputs": inputs, "response_mode": "blocking", "user": "u1"})


def test_an_input_variable_over_the_limit_is_refused_naming_it(limited):
    headers = app_key(limited, import_app(limited, echo_workflow()))
    at_limit = run(limited, headers, {"text": "x" * VAR_LIMIT})
    assert at_limit.status_code == 200
    assert at_limit.get_json()["data"]["outputs"] == {"text": "x" * VAR_LIMIT}
    over = run(limited, headers, {"text": "x" * (VAR_LIMIT + 1)})
    assert over.status_code == 400
    assert over.get_json()["code"] == "invalid_param" and over.get_json()["params"] == "text"
    # Bytes, not characters: 1000 three-byte characters are 3000 bytes.
    assert run(limited, headers, {"text": "€" * 1000}).status_code == 400
    # Undeclared and structured inputs are measured too (as JSON).
    big_json = run(limited, headers, {"extra": {"rows": ["y" * 100] * 30}})
    assert big_json.status_code == 400 and big_json.get_json()["params"] == "extra"


def test_chat_inputs_are_limited_too(limited):
    headers = app_key(limited, import_app(limited, CHATFLOW))
    response = limited.post("/v1/chat-messages", headers=headers, json={
        "query": "hi", "inputs": {"note": "z" * (VAR_LIMIT + 1)}, "user": "u1", "response_mode": "blocking"})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_param"


def test_dsl_and_request_body_sizes(limited):
    padding = "# " + "p" * 30_000 + "\n"
    too_big_dsl = limited.post("/manage/v1/apps", data=padding + HELLO,
                               headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert too_big_dsl.status_code == 413
    assert too_big_dsl.get_json()["code"] == "request_entity_too_large"
    headers = app_key(limited, import_app(limited, HELLO))
    huge = limited.post("/v1/workflows/run", headers=headers, data=b"{" + b" " * 300_000 + b"}",
                        content_type="application/json")
    assert huge.status_code == 413
    assert set(huge.get_json()) == {"code", "message", "status"} and huge.get_json()["status"] == 413


def list_endpoints(client) -> list[tuple[str, dict[str, str]]]:
    """Every list endpoint of the Service and management APIs, with a query string to append to."""
    workflow = app_key(client, import_app(client, HELLO))
    chat = app_key(client, import_app(client, CHATFLOW))
    reply = client.post("/v1/chat-messages", headers=chat, json={"query": "hi", "inputs": {}, "user": "u1",
                                                                 "response_mode": "blocking"}).get_json()
    conversation = reply["conversation_id"]
    ds = client.post("/manage/v1/datasets/api-keys", headers=ADMIN_HEADERS).get_json()["token"]
    ds_headers = {"Authorization": f"Bearer {ds}"}
    dataset = client.post("/v1/datasets", headers=ds_headers, json={"name": "kb"}).get_json()["id"]
    document = client.post(f"/v1/datasets/{dataset}/document/create-by-text", headers=ds_headers,
                           json={"name": "d", "text": "some text", "indexing_technique": "economy"}
                           ).get_json()["document"]["id"]
    return [
        ("/v1/workflows/logs?", workflow),
        ("/v1/conversations?user=u1&", chat),
        (f"/v1/messages?user=u1&conversation_id={conversation}&", chat),
        (f"/v1/conversations/{conversation}/variables?user=u1&", chat),
        ("/v1/datasets?", ds_headers),
        (f"/v1/datasets/{dataset}/documents?", ds_headers),
        (f"/v1/datasets/{dataset}/documents/{document}/segments?", ds_headers),
        ("/manage/v1/apps?", ADMIN_HEADERS),
    ]


def test_every_list_endpoint_caps_the_page_at_100(limited):
    for url, headers in list_endpoints(limited):
        assert limited.get(url + "limit=100", headers=headers).status_code == 200, url
        for bad in ("limit=101", "limit=0", "limit=-1", "limit=many"):
            response = limited.get(url + bad, headers=headers)
            assert response.status_code == 400, (url, bad)
            assert response.get_json()["code"] == "invalid_param", (url, bad)
        default = limited.get(url.rstrip("?&"), headers=headers).get_json()
        assert default["limit"] == 20, url


def test_admin_lists_have_their_own_cap(limited):
    # The audit trail and the task console serve an operator's screen: 500 rows at most.
    for url in ("/manage/v1/audit", "/manage/v1/tasks/runs"):
        assert limited.get(url + "?limit=500", headers=ADMIN_HEADERS).status_code == 200
        assert limited.get(url + "?limit=501", headers=ADMIN_HEADERS).status_code == 400
