"""Shared fixtures: fresh settings per test on embedded backends, the local OpenAI-protocol server, a
container whose Huey runs tasks immediately (huey's documented test mode), a Flask test client with an admin
token, and the machine's Postgres and Redis (or throwaway ones) for the production path."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.db import make_engine, make_session_factory, upgrade_schema
from app.services.accounts import Accounts
from app.services.apps import Apps
from app.services.leases import Leases
from app.settings import Settings
from app.wiring import Container, build
from bench.llm_server import StubLLMServer, echo
from tests.run_table import FrozenClock, RunTable, RunTemplate
from tests.services import ServiceEndpoints, start_postgres, start_redis
from worker.runtime import WorkerRuntime, build_runtime

ADMIN = "adm-test-token"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dsl"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def fixture_dsl(name: str) -> str:
    """One of the project's own Dify DSL documents in tests/fixtures/dsl (public exports: tests/corpus.py)."""
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def llm_server() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_llm(request: pytest.FixtureRequest) -> None:
    if "llm_server" in request.fixturenames:
        server: StubLLMServer = request.getfixturevalue("llm_server")
        server.config.responder = echo
        server.config.latency = 0.0
        server.config.tokens_per_second = 0.0
        server.config.fail_status = None
        with server.config.lock:
            server.config.requests.clear()


@pytest.fixture
def make_settings(tmp_path: Path, llm_server: StubLLMServer) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"trellis_home": tmp_path / "home", "openai_base_url": llm_server.base_url,
                                  "openai_api_key": "sk-test", "admin_token": ADMIN}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


def build_test_container(settings: Settings) -> Container:
    """Embedded backends with the schema applied; Huey in immediate mode runs each task at enqueue."""
    settings.ensure_home()
    upgrade_schema(settings.sqlalchemy_url)
    holder: dict[str, WorkerRuntime] = {}
    container = build(settings, runtime=lambda: holder["runtime"])
    holder["runtime"] = build_runtime(container)
    container.huey.immediate = True
    return container


@pytest.fixture
def container(make_settings: Callable[..., Settings]) -> Iterator[Container]:
    c = build_test_container(make_settings())
    yield c
    c.close()


@pytest.fixture(scope="session")
def run_template(tmp_path_factory: pytest.TempPathFactory) -> RunTemplate:
    """A migrated SQLite database with the hello sample imported, built once (see tests/run_table.py); only the
    services that write it are built, not a whole container."""
    path = tmp_path_factory.mktemp("run-template") / "runs.db"
    url = f"sqlite:///{path}"
    upgrade_schema(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    workspace = Accounts(sessions).default_workspace_id()
    hello = Apps(sessions).import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    assert hello.published_version_id is not None
    engine.dispose()  # the last connection folds SQLite's WAL into the file
    return RunTemplate(path, workspace, {"hello": (hello.id, hello.published_version_id)})


@pytest.fixture
def run_table(run_template: RunTemplate, tmp_path: Path) -> Iterator[RunTable]:
    """This test's own copy of the runs database (tests/run_table.py)."""
    table = RunTable(run_template, tmp_path)
    yield table
    table.close()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when a test moves it (tests/run_table.py)."""
    return FrozenClock()


@pytest.fixture
def frozen_leases(run_table: RunTable, clock: FrozenClock) -> Leases:
    """Leases on this test's runs database, reading `clock`: expiry and age limits reached exactly."""
    return Leases(run_table.sessions, lease_seconds=30, clock=clock)


@pytest.fixture
def flask_app(container: Container) -> Flask:
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    app.testing = True
    return app


@pytest.fixture
def client(flask_app: Flask) -> FlaskClient:
    return flask_app.test_client()


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def import_app(client: FlaskClient, dsl: str | dict[str, Any]) -> str:
    body = dsl if isinstance(dsl, str) else yaml.safe_dump(dsl)
    response = client.post("/manage/v1/apps", data=body, headers={**ADMIN_HEADERS,
                                                                   "Content-Type": "application/yaml"})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def app_key(client: FlaskClient, app_id: str) -> dict[str, str]:
    response = client.post(f"/manage/v1/apps/{app_id}/api-keys", headers=ADMIN_HEADERS)
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def app_with_key(client: FlaskClient) -> Callable[[str | dict[str, Any]], dict[str, str]]:
    """Import a DSL and return the Service API headers of a fresh key for it."""
    return lambda dsl: app_key(client, import_app(client, dsl))


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceEndpoints]:
    """The machine's Postgres and Redis, or throwaway servers started from installed binaries."""
    with start_postgres() as pg_admin_url, start_redis() as redis_url:
        yield ServiceEndpoints(pg_admin_url, redis_url)


@pytest.fixture
def postgres_url(services: ServiceEndpoints) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"trellis_test_{uuid.uuid4().hex[:10]}"
    url = services.create_database(name)
    yield url
    services.drop_database(name)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    """A private PostgreSQL with pgvector (tests/pgvector_server.py), shared by the session."""
    from tests.pgvector_server import start_pgvector, unusable

    with start_pgvector() as admin_url:
        if reason := unusable(admin_url):
            pytest.skip(reason)
        yield admin_url


@pytest.fixture
def pgvector_url(pgvector_server: str) -> Iterator[str]:
    """A fresh database on the pgvector server for one test (psycopg URL form), dropped afterwards."""
    from tests.pgvector_server import create_database, drop_database

    name = f"trellis_vec_{uuid.uuid4().hex[:10]}"
    yield create_database(pgvector_server, name)
    drop_database(pgvector_server, name)
