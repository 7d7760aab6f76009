"""Property-based fuzzing (Hypothesis) of the DSL importer and the `/v1` request bodies, in process (issue 14).

Whatever the input (nested deep, with NUL characters and lone surrogates, anchors and aliases, wrong types, mutated
real DSL), the importer answers InvalidParam or a graph, and the API (on Postgres, which refuses more than SQLite)
answers below 500. The budget is small in the normal suite (FUZZ_EXAMPLES, default 25 examples per property: a few
seconds); `make fuzz` runs thousands. Found by it: NaN in a body was a 500 on Postgres.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.engine.dsl import parse_dsl
from app.engine.graph import build_graph
from app.errors import InvalidParam
from tests.conftest import ADMIN, ADMIN_HEADERS, SAMPLES, app_key, build_test_container, import_app

HELLO = (SAMPLES / "hello.yml").read_text()
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Text that databases and encoders choke on, mixed into ordinary text.
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "{{", "{{#", "#}}", "'", '"', "\\", "*a",
                         "&a", "<<", "\n", "%s", "{0}", "a" * 300])
TEXT = st.lists(st.one_of(st.text(max_size=12), NASTY), max_size=4).map("".join)
# Numbers JSON does not have but Python's parser takes, and integers past 64 bits, as often as ordinary ones.
ODD_NUMBER = st.sampled_from([float("nan"), float("inf"), -float("inf"), 2 ** 63, -(2 ** 63) - 1, 10 ** 30])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                   st.floats(allow_nan=True, allow_infinity=True), ODD_NUMBER, TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# -- the DSL importer ---------------------------------------------------------------------------------------------

def _import(text: str) -> None:
    try:
        doc = parse_dsl(text)
        build_graph(doc.workflow, doc.app.mode)
    except InvalidParam:
        pass  # the only way the importer may refuse


def _mutate(doc: dict[str, Any], path: list[int], value: Any) -> dict[str, Any]:
    """Put `value` somewhere in `doc`, the place chosen by `path` (indices into each level's keys/items)."""
    target: Any = doc
    for index in path:
        children = list(target.items()) if isinstance(target, dict) else list(enumerate(target))
        if not children:
            break
        key, child = children[index % len(children)]
        if not isinstance(child, dict | list) or not child:
            target[key] = value
            return doc
        target = child
    if isinstance(target, dict):
        target["fuzz"] = value
    else:
        target.append(value)
    return doc


@FUZZ
@given(path=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=8),
       value=st.one_of(JSON, st.integers(min_value=0, max_value=3000).map(deep)))
def test_mutated_dsl_imports_or_is_refused(path: list[int], value: Any) -> None:
    doc = _mutate(yaml.safe_load(HELLO), path, value)
    _import(yaml.dump(doc, allow_unicode=True, Dumper=yaml.SafeDumper) if _dumpable(doc) else HELLO)


def _dumpable(doc: Any) -> bool:
    try:
        yaml.dump(doc, Dumper=yaml.SafeDumper)
        return True
    except (yaml.YAMLError, RecursionError):
        return False


@FUZZ
@given(text=st.one_of(TEXT, st.text(max_size=400),
                      st.builds(lambda a, b: HELLO[:a] + b + HELLO[a:], st.integers(0, len(HELLO)), TEXT),
                      st.builds(lambda n, w: "a0: &a0 [x]\n" + "".join(
                          f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * w)}]\n" for i in range(1, n)) + HELLO,
                          st.integers(1, 12), st.integers(1, 12)),
                      st.builds(lambda n, c: HELLO + "deep: " + c * n + "\n", st.integers(0, 5000),
                                st.sampled_from(["[", "{a: ", "- "]))))
def test_any_text_imports_or_is_refused(text: str) -> None:
    _import(text)


# -- the HTTP edge --------------------------------------------------------------------------------------------------

# Bodies valid enough to reach the database: the start form's `name`, anything else beside it.
RUN_BODY = st.fixed_dictionaries({
    "inputs": st.dictionaries(st.text(max_size=8), JSON, max_size=3).map(lambda extra: {**extra, "name": "Ada"}),
    "user": st.one_of(st.just("u"), TEXT), "response_mode": st.just("blocking"),
    "query": st.one_of(st.just("hi"), TEXT)})


@FUZZ
@given(body=st.one_of(RUN_BODY, JSON, st.dictionaries(st.sampled_from(["inputs", "user", "response_mode", "files",
                                                                       "query", "conversation_id"]), JSON,
                                                      max_size=5)),
       nested=st.sampled_from([0, 0, 0, 63, 64, 5000]), path=st.sampled_from([
           "/v1/workflows/run", "/v1/workflows/tasks/t1/stop", "/v1/chat-messages", "/v1/chat-messages/t1/stop",
           "/v1/conversations/c1/name", "/v1/messages/m1/feedbacks"]))
def test_v1_bodies_never_answer_500(pg_client, body: Any, nested: int, path: str) -> None:
    client = pg_client
    headers = _headers(client)
    if nested and isinstance(body, dict):
        body["inputs"] = {"x": deep(nested)}
    data = _encode(body)
    response = client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    assert response.get_json()["status"] == response.status_code if response.status_code >= 400 else True


@FUZZ
@given(body=RUN_BODY)
def test_run_bodies_that_reach_the_database_never_answer_500(pg_client, body: Any) -> None:
    response = pg_client.post("/v1/workflows/run", data=_encode(body),
                              headers={**_headers(pg_client), "Content-Type": "application/json"})
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])


@FUZZ
@given(body=st.one_of(JSON, st.integers(min_value=0, max_value=100_000).map(lambda n: {"data": deep(n)}),
                      st.builds(lambda t: {"data": HELLO.replace("hello", t, 1)}, TEXT)))
def test_management_json_bodies_never_answer_500(pg_client, body: Any) -> None:
    client = pg_client
    for path in ("/manage/v1/apps", "/manage/v1/workspaces", "/manage/v1/datasets/api-keys"):
        response = client.post(path, data=_encode(body), headers={**ADMIN_HEADERS,
                                                                  "Content-Type": "application/json"})
        assert response.status_code < 500, (path, response.status_code, response.get_data()[:300])


def _encode(body: Any) -> bytes:
    try:
        return json.dumps(body).encode()  # lone surrogates become \ud800 escapes, as a client would send them
    except (ValueError, RecursionError):
        return b"[" * 100_000


_KEYS: dict[int, dict[str, str]] = {}


@pytest.fixture
def pg_client(make_settings: Any, postgres_url: str) -> Iterator[FlaskClient]:
    """A Flask client on Postgres: it refuses what SQLite stores (NUL, NaN, over-long strings)."""
    container = build_test_container(make_settings(database_url=postgres_url))
    container.accounts.ensure_admin_token(ADMIN)
    yield create_app(container.settings, container).test_client()
    container.close()


def _headers(client: Any) -> dict[str, str]:
    """One app per Flask app: Hypothesis reuses the function-scoped fixtures across examples."""
    key = id(client.application)
    if key not in _KEYS:
        _KEYS.clear()
        _KEYS[key] = app_key(client, import_app(client, HELLO))
    return _KEYS[key]
