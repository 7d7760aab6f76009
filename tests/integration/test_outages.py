"""Postgres or Redis down: new runs get 503 with Retry-After, `/ready` fails, nothing is half-accepted, and the
stack recovers without a restart when the service returns. Private servers, so they can be stopped."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import httpx
import pytest

from bench.stack import free_port, running_stack
from tests.integration.test_stack import ADMIN, provision
from tests.services import PrivatePostgres

pytestmark = pytest.mark.integration

HELLO_BODY = {"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u1"}


def _redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc


def _until(check, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server for a private Redis")
def test_outage_of_redis_then_postgres_is_503_and_recovers(tmp_path):
    from tests.conftest import SAMPLES

    postgres = PrivatePostgres()
    postgres.start()
    redis_port = free_port()
    redis_proc = _redis(redis_port)
    env = {"ADMIN_TOKEN": ADMIN, "DATABASE_URL": postgres.url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "HUEY_NAME": f"outage-{uuid.uuid4().hex[:6]}", "BLOCKING_TIMEOUT_SECONDS": "20"}
    try:
        with running_stack(tmp_path / "home", env) as stack, httpx.Client(base_url=stack.base_url,
                                                                          timeout=30) as client:
            headers = provision(client, (SAMPLES / "hello.yml").read_text())
            run = lambda: client.post("/v1/workflows/run", json=HELLO_BODY, headers=headers)  # noqa: E731
            assert run().json()["data"]["status"] == "succeeded"

            redis_proc.kill()
            redis_proc.wait()
            refused = run()
            assert refused.status_code == 503 and refused.headers["Retry-After"]
            assert client.get("/ready").status_code == 503
            redis_proc = _redis(redis_port)
            assert _until(lambda: client.get("/ready").status_code == 200)
            assert _until(lambda: run().json()["data"]["status"] == "succeeded")

            postgres.stop()
            refused = run()
            assert refused.status_code == 503 and refused.headers["Retry-After"]
            assert refused.json()["code"] == "service_unavailable"
            assert client.get("/ready").status_code == 503
            postgres.start()
            assert _until(lambda: client.get("/ready").status_code == 200)
            assert _until(lambda: run().json()["data"]["status"] == "succeeded")
    finally:
        redis_proc.kill()
        postgres.remove()
