"""Fixtures of the service tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.services.execution_bench import Bench, make_bench
from tests.run_table import RunTable


@pytest.fixture
def bench(run_table: RunTable, make_settings: Any) -> Bench:
    """The executor over this test's own runs database (tests/app/services/execution_bench.py)."""
    return make_bench(run_table, make_settings)
