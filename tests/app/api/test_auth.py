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
