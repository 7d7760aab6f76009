"""Issue 14, attacks 1, 2 and 8 at the HTTP edge: a YAML alias bomb, nesting deep enough to exhaust the parser's
recursion (YAML, the JSON import wrapper, /v1 bodies), and NUL characters or lone surrogates in any text. Each was
a 201 with a 72 MB workflow, or a 500; each must be a 400 with Dify's error JSON and store nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_HEADERS, SAMPLES

HELLO = (SAMPLES / "hello.yml").read_text()
YAML = {**ADMIN_HEADERS, "Content-Type": "application/yaml"}


def alias_bomb(levels: int = 6, width: int = 10) -> str:
    """The probe's 699-byte DSL: each anchor lists the previous one `width` times; `payload` uses the last."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n" + HELLO.replace("        title: Start\n",
                                                  f"        title: Start\n        payload: *a{levels}\n", 1)


def assert_400(response, code: str = "invalid_param") -> dict:
    assert response.status_code == 400, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert body["code"] == code and body["status"] == 400
    return body


def test_yaml_alias_bomb_is_refused(client):
    assert len(alias_bomb()) < len(HELLO) + 700
    assert "expands" in assert_400(client.post("/manage/v1/apps", data=alias_bomb(), headers=YAML))["message"]
    assert client.get("/manage/v1/apps", headers=ADMIN_HEADERS).get_json()["total"] == 0
    # Anchors that expand to little still import (real exports may share a node).
    assert client.post("/manage/v1/apps", data=alias_bomb(levels=1), headers=YAML).status_code == 201


def test_deeply_nested_yaml_is_refused(client):
    nested = "[" * 900 + "]" * 900
    deep = HELLO.replace("        title: Start\n", f"        title: Start\n        deep: {nested}\n", 1)
    assert "nested" in assert_400(client.post("/manage/v1/apps", data=deep, headers=YAML))["message"]
    block = "".join(f"\n{'  ' * (i + 4)}k{i}:" for i in range(900)) + " x\n"
    deep_block = HELLO.replace("        title: Start\n", "        title: Start\n        deep:" + block, 1)
    assert_400(client.post("/manage/v1/apps", data=deep_block, headers=YAML))


def test_json_import_wrapper_nested_100000_deep_is_refused(client):
    body = '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post("/manage/v1/apps", data=body, headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["status"] == 400


@pytest.mark.parametrize("depth", [100, 5000])
def test_v1_body_nested_deep_is_refused(client, app_with_key, depth):
    headers = {**app_with_key(HELLO), "Content-Type": "application/json"}
    nested = "[" * depth + "]" * depth
    body = '{"inputs": {"name": "a", "x": ' + nested + '}, "user": "u", "response_mode": "blocking"}'
    assert client.post("/v1/workflows/run", data=body, headers=headers).status_code == 400
    assert client.get("/v1/workflows/logs", headers=headers).get_json()["total"] == 0


BAD_TEXT = ["a\u0000b", "\ud800", "x\udfffy"]


@pytest.mark.parametrize("text", BAD_TEXT, ids=["nul", "high-surrogate", "low-surrogate"])
def test_nul_and_lone_surrogates_are_refused_everywhere(client, app_with_key, text):
    headers = {**app_with_key(HELLO), "Content-Type": "application/json"}

    def post(path: str, body: dict) -> object:
        # json.dumps escapes the character as \u0000 / \ud800, exactly what a client sends on the wire.
        return client.post(path, data=json.dumps(body), headers=headers)

    assert_400(post("/v1/workflows/run", {"inputs": {"name": text}, "user": "u", "response_mode": "blocking"}))
    assert_400(post("/v1/workflows/run", {"inputs": {"name": "ok"}, "user": text, "response_mode": "blocking"}))
    assert_400(post("/v1/workflows/run", {"inputs": {text: "ok", "name": "a"}, "user": "u"}))
    assert_400(post("/v1/workflows/tasks/t/stop", {"user": text}))
    assert_400(client.get("/v1/workflows/logs", query_string={"keyword": "a\x00b"}, headers=headers))
    assert_400(client.get("/v1/workflows/run/a%00b", headers=headers))
    assert client.get("/v1/workflows/logs", headers=headers).get_json()["total"] == 0
    imported = client.post("/manage/v1/apps", data=HELLO.replace("name: hello", 'name: "' +
                                                                  text.encode("unicode_escape").decode() + '"', 1),
                           headers=YAML)
    assert_400(imported)


def test_form_values_and_file_names_are_checked_and_json_bodies_skip_the_form_parser(client, app_with_key):
    """The guard skips the form of a JSON body (issue 18); other bodies are checked as before: NUL is refused in
    form values and in file names, and a JSON body sent with a form content type (curl's `-d`) is checked."""
    import io

    headers = app_with_key(HELLO)
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    assert_400(client.post("/v1/workflows/run", data="user=a%00b", headers=form))
    assert_400(client.post("/v1/workflows/run", data='{"inputs": {"name": "a\\u0000b"}}', headers=form))
    assert_400(client.post("/v1/files/upload", headers=headers, content_type="multipart/form-data",
                           data={"user": "u", "file": (io.BytesIO(b"x"), "a\x00b.txt")}))
    assert_400(client.post("/v1/files/upload", headers=headers, content_type="multipart/form-data",
                           data={"user": "a\x00b", "file": (io.BytesIO(b"x"), "a.txt")}))
    # A body that is no form: the guard finds nothing, the view answers it (not JSON).
    plain = client.post("/v1/workflows/run", data="user=a%00b", headers={**headers, "Content-Type": "text/plain"})
    assert assert_400(plain, code="bad_request")["message"].startswith("Request body must be JSON")


def test_dsl_fields_longer_than_their_columns_are_refused(client):
    """Postgres refused them with a DataError (500); found while sweeping for text the database cannot store."""
    long_name = HELLO.replace("name: hello", "name: " + "n" * 256, 1)
    assert "255" in assert_400(client.post("/manage/v1/apps", data=long_name, headers=YAML))["message"]
    long_version = HELLO.replace("version: 0.3.1", "version: 0.3.1-" + "b" * 17, 1)
    assert_400(client.post("/manage/v1/apps", data=long_version, headers=YAML))
    long_icon = HELLO.replace("  mode: workflow\n", "  mode: workflow\n  icon: " + "i" * 400 + "\n", 1)
    assert client.post("/manage/v1/apps", data=long_icon, headers=YAML).status_code == 201


def test_nan_and_infinity_are_refused_on_postgres(make_settings, postgres_url):
    """Python's JSON parser takes `NaN` and `Infinity`; Postgres refused the run row (500). Found by the fuzz."""
    from app import create_app
    from tests.conftest import ADMIN, app_key, build_test_container, import_app

    container = build_test_container(make_settings(database_url=postgres_url))
    try:
        container.accounts.ensure_admin_token(ADMIN)
        client = create_app(container.settings, container).test_client()
        headers = {**app_key(client, import_app(client, HELLO)), "Content-Type": "application/json"}
        for number in ("NaN", "Infinity", "-Infinity"):
            body = '{"inputs": {"name": "a", "x": ' + number + '}, "user": "u", "response_mode": "blocking"}'
            assert_400(client.post("/v1/workflows/run", data=body, headers=headers))
        nan_dsl = HELLO.replace("        title: Start\n", "        title: Start\n        p: .nan\n", 1)
        assert_400(client.post("/manage/v1/apps", data=nan_dsl, headers=YAML))
        ok = client.post("/v1/workflows/run", headers=headers,
                         json={"inputs": {"name": "a"}, "user": "u", "response_mode": "blocking"})
        assert ok.get_json()["data"]["status"] == "succeeded"
    finally:
        container.close()
