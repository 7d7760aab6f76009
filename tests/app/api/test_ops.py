"""`/ready` and `/metrics` on the metrics port only (METRICS_PORT), decided by the listening socket, and the
gunicorn config that opens that port. Without METRICS_PORT nothing changes."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import build_test_container

ROOT = Path(__file__).resolve().parents[3]


class _Socket:
    """Stands in for the accepted connection gunicorn puts in the WSGI environ (``gunicorn.socket``)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def getsockname(self) -> tuple[str, int]:
        return ("10.0.0.5", self.port)


@pytest.fixture
def metrics_client(make_settings) -> Iterator[FlaskClient]:  # noqa: ANN001
    container = build_test_container(make_settings(metrics_port=9090))
    yield create_app(container.settings, container).test_client()
    container.close()


def test_ready_and_metrics_answer_only_on_the_metrics_port(metrics_client: FlaskClient) -> None:
    public, private = {"gunicorn.socket": _Socket(5001)}, {"gunicorn.socket": _Socket(9090)}
    for path in ("/metrics", "/ready"):
        response = metrics_client.get(path, environ_overrides=public)
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"
        assert metrics_client.get(path, environ_overrides=private).status_code == 200
    assert metrics_client.get("/health", environ_overrides=public).status_code == 200  # liveness stays public


def test_a_host_header_cannot_claim_the_metrics_port(metrics_client: FlaskClient) -> None:
    # gunicorn fills SERVER_PORT from the Host header; only the socket counts.
    response = metrics_client.get("/metrics", headers={"Host": "api:9090"},
                                  environ_overrides={"gunicorn.socket": _Socket(5001), "SERVER_PORT": "9090"})
    assert response.status_code == 404


def test_without_metrics_port_both_stay_on_the_main_port(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_overrides={"gunicorn.socket": _Socket(5001)}).status_code == 200


def test_gunicorn_listens_on_the_metrics_port_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp")
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:5001"]
    monkeypatch.setenv("METRICS_PORT", "9090")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:5001", "0.0.0.0:9090"]
