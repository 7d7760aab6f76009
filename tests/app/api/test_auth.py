"""Failed-authentication limiting per client IP (app/api/auth.py): app, dataset and admin tokens alike, through
the Flask test client on embedded backends."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import ADMIN, ADMIN_HEADERS, SAMPLES, build_test_container, import_app

HELLO = (SAMPLES / "hello.yml").read_text()
LIMIT = 3


@pytest.fixture
def guarded(make_settings):
    """A client whose API blocks an address after LIMIT rejected tokens; closes its container."""
    def factory(**overrides) -> FlaskClient:
        container = build_test_container(make_settings(**{"auth_failures_per_minute": LIMIT, **overrides}))
        made.append(container)
        app = create_app(container.settings, container)
        container.accounts.ensure_admin_token(ADMIN)
        return app.test_client()

    made: list = []
    yield factory
    for container in made:
        container.close()


def bad(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rejected_app_keys_block_the_address_then_even_a_good_key_waits(guarded):
    client = guarded()
    good = client.post(f"/manage/v1/apps/{import_app(client, HELLO)}/api-keys", headers=ADMIN_HEADERS)
    good_headers = bad(good.get_json()["token"])
    for i in range(LIMIT):
        assert client.get("/v1/info", headers=bad(f"app-guess{i}")).status_code == 401
    refused = client.get("/v1/info", headers=good_headers)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another address is not affected, and the good key works from there.
    other = client.get("/v1/info", headers=good_headers, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def test_admin_and_dataset_tokens_count_too(guarded):
    client = guarded()
    assert client.get("/manage/v1/apps", headers=bad("adm-guess")).status_code == 401
    assert client.get("/v1/datasets", headers=bad("ds-guess")).status_code == 401
    assert client.post("/v1/workflows/run", headers=bad("app-guess"),
                       json={"inputs": {}, "user": "u"}).status_code == 401
    blocked = client.get("/manage/v1/apps", headers=ADMIN_HEADERS)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers


def test_missing_credentials_and_good_tokens_are_not_failures(guarded):
    client = guarded()
    for _ in range(LIMIT * 2):
        assert client.get("/v1/info").status_code == 401  # no token presented: nothing guessed
        assert client.get("/manage/v1/apps", headers=ADMIN_HEADERS).status_code == 200
    assert client.get("/manage/v1/apps", headers=ADMIN_HEADERS).status_code == 200


def test_console_login_failures_count(guarded):
    client = guarded()
    for i in range(LIMIT):
        response = client.post("/manage/console/login", data={"token": f"adm-guess{i}"})
        assert response.status_code == 302
    assert client.post("/manage/console/login", data={"token": ADMIN}).status_code == 429


def test_forwarded_for_is_trusted_only_with_proxy_hops(guarded):
    direct = guarded()
    for i in range(LIMIT):
        # Without trusted hops a client cannot dodge the limit by inventing X-Forwarded-For addresses.
        direct.get("/v1/info", headers={**bad(f"app-{i}"), "X-Forwarded-For": f"203.0.113.{i}"})
    assert direct.get("/v1/info", headers=bad("app-x")).status_code == 429

    proxied = guarded(trusted_proxy_hops=1)
    for i in range(LIMIT):
        proxied.get("/v1/info", headers={**bad(f"app-{i}"), "X-Forwarded-For": "spoofed, 198.51.100.7"})
    assert proxied.get("/v1/info", headers={**bad("app-x"),
                                            "X-Forwarded-For": "198.51.100.7"}).status_code == 429
    assert proxied.get("/v1/info", headers={**bad("app-x"),
                                            "X-Forwarded-For": "198.51.100.8"}).status_code == 401


def test_limit_zero_turns_the_guard_off(guarded):
    client = guarded(auth_failures_per_minute=0)
    for i in range(LIMIT * 3):
        assert client.get("/v1/info", headers=bad(f"app-{i}")).status_code == 401


# -- the Authorization header, the client address and the limits, each at its edge --------------------------------

MISSING = "Authorization header must be provided and start with 'Bearer'"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer    ", "Basic app-abc", "Token app-abc",
                                    "app-abc"])
def test_a_missing_or_malformed_header_is_401_and_not_counted(guarded, header):
    client = guarded()
    headers = {} if header is None else {"Authorization": header}
    for _ in range(LIMIT + 1):
        response = client.get("/v1/info", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["message"] == MISSING
        assert response.get_json()["code"] == "unauthorized"


def test_the_scheme_is_case_insensitive_and_the_token_is_trimmed(guarded):
    client = guarded()
    token = app_token(client)
    for header in (f"Bearer {token}", f"bearer {token}", f"BEARER {token}", f"Bearer   {token}  "):
        assert client.get("/v1/info", headers={"Authorization": header}).status_code == 200


def app_token(client: FlaskClient) -> str:
    response = client.post(f"/manage/v1/apps/{import_app(client, HELLO)}/api-keys", headers=ADMIN_HEADERS)
    return str(response.get_json()["token"])


def test_a_blocked_client_is_told_why_and_when_to_retry(guarded):
    client = guarded()
    for i in range(LIMIT):
        client.get("/v1/info", headers=bad(f"app-{i}"))
    refused = client.get("/v1/info", headers=bad("app-next"))
    assert refused.get_json()["message"] == "Too many failed authentication attempts; retry later"
    assert 58 <= int(refused.headers["Retry-After"]) <= 60  # the one-minute window has just begun


def test_a_block_of_under_a_second_still_refuses(guarded):
    import time

    from app.providers.auth_failures import MemoryAuthFailures

    client = guarded()
    client.application.extensions["trellis"].auth_failures = MemoryAuthFailures(LIMIT, window_seconds=1.5)
    started = time.monotonic()
    for i in range(LIMIT):
        client.get("/v1/info", headers=bad(f"app-{i}"))
    time.sleep(max(0.0, 0.6 - (time.monotonic() - started)))  # under a second of the block is left
    refused = client.get("/v1/info", headers=bad("app-next"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def test_the_address_is_the_peer_when_no_forwarded_header_is_sent_even_behind_a_proxy(guarded):
    client = guarded(trusted_proxy_hops=1)
    for i in range(LIMIT):
        client.get("/v1/info", headers=bad(f"app-{i}"), environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert client.get("/v1/info", headers=bad("app-x"), environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 429
    assert client.get("/v1/info", headers=bad("app-x"), environ_base={"REMOTE_ADDR": "10.1.1.2"}).status_code == 401


@pytest.mark.parametrize(("hops", "sent", "blocked", "free"), [
    # Entries are split on commas alone, spaces or not; the n-th from the right is the client.
    (1, "203.0.113.9,198.51.100.7", "198.51.100.7", "203.0.113.9"),
    (2, "203.0.113.9, 198.51.100.7, 10.0.0.2", "198.51.100.7", "10.0.0.2"),
    # More trusted hops than entries: the leftmost entry is the best there is.
    (3, "198.51.100.7, 10.0.0.2", "198.51.100.7", "10.0.0.2"),
])
def test_trusted_hops_pick_the_entry_counted_from_the_right(guarded, hops, sent, blocked, free):
    client = guarded(trusted_proxy_hops=hops)
    for i in range(LIMIT):
        client.get("/v1/info", headers={**bad(f"app-{i}"), "X-Forwarded-For": sent})
    assert client.get("/v1/info", headers={**bad("app-x"), "X-Forwarded-For": blocked}).status_code == 429
    assert client.get("/v1/info", headers={**bad("app-x"), "X-Forwarded-For": free}).status_code == 401


@pytest.mark.parametrize(("rate", "wait", "retry"), [
    (2.0, 0.5, "1"),  # under a second: still refused, and told 1 s
    (0.4, 2.5, "3"),  # rounded up to whole seconds
])
def test_the_rate_limit_answers_429_with_its_wait(guarded, rate, wait, retry):
    import re

    client = guarded(rate_limit_per_second=rate, rate_limit_burst=1)
    headers = bad(app_token(client))
    assert client.get("/v1/info", headers=headers).status_code == 200
    limited = client.get("/v1/info", headers=headers)
    assert limited.status_code == 429 and limited.get_json()["code"] == "too_many_requests"
    # The bucket refilled a little between the two requests: the wait is just under a full token's.
    told = re.fullmatch(r"Rate limit exceeded for this API key; retry in (\d+\.\d)s", limited.get_json()["message"])
    assert told and wait - 0.2 <= float(told.group(1)) <= wait
    assert limited.headers["Retry-After"] == retry


def test_an_app_key_is_looked_up_once_per_request(guarded, monkeypatch):
    client = guarded()
    headers = bad(app_token(client))
    accounts = client.application.extensions["trellis"].accounts
    calls: list[str] = []
    real = accounts.authenticate_app_key
    monkeypatch.setattr(accounts, "authenticate_app_key", lambda token: calls.append(token) or real(token))
    # The budget gate and the view both need the key on a run.
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u"})
    assert response.status_code == 200 and len(calls) == 1


def test_the_audit_names_who_called(guarded):
    client = guarded()
    headers = bad(app_token(client))
    client.get("/v1/info", headers=headers)
    client.get("/manage/v1/apps", headers=ADMIN_HEADERS)
    records = client.get("/manage/v1/audit", headers=ADMIN_HEADERS).get_json()["data"]
    actors = {r["endpoint"]: r["actor_type"] for r in records}
    assert actors["/v1/info"] == "app_key" and actors["/manage/v1/apps"] == "admin_token"


def test_only_the_operator_may_act_on_the_whole_deployment(guarded):
    client = guarded(operator_token="op-the-operator-token")
    refused = client.post("/manage/v1/workspaces", json={"name": "w"}, headers=ADMIN_HEADERS)
    assert refused.status_code == 403
    assert refused.get_json()["message"] == ("This action affects the whole deployment and needs the operator "
                                             "token")
    operator = {"Authorization": "Bearer op-the-operator-token"}
    assert client.post("/manage/v1/workspaces", json={"name": "w"}, headers=operator).status_code == 201
