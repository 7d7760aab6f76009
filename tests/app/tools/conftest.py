from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.tools.web import Web, serve


@pytest.fixture
def web() -> Iterator[Web]:
    with serve() as server:
        yield server
