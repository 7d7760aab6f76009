"""Fixtures of the provider tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http_sink import HttpSink, start_sink


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    """A real local HTTP server that records what reaches it (tests/http_sink.py), one per test module."""
    server = start_sink()
    yield server
    server.close()
