"""The audit writer on both databases: a flushed batch reads back field for field (on Postgres it goes in by
COPY, issue 18, so text that COPY must escape is part of the batch)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.db import make_engine, make_session_factory, upgrade_schema
from app.services.audit import AuditEntry, AuditFilter, AuditLog


@pytest.fixture(params=["sqlite", "postgres"])
def audit_log(request, tmp_path):  # type: ignore[no-untyped-def]
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade_schema(url)
    engine = make_engine(url)
    log = AuditLog(make_session_factory(engine))
    yield log
    engine.dispose()


def test_a_flushed_batch_reads_back_field_for_field(audit_log):  # type: ignore[no-untyped-def]
    workspace = str(uuid.uuid4())
    when = datetime(2026, 12, 7, 0, 0, 1, 250000, tzinfo=UTC)
    odd = "tab\there, line\nbreak, back\\slash, \\N, quote ' \" and ünïcødé ☃"
    entries = [AuditEntry(method="POST", endpoint="/v1/workflows/run", path=f"/v1/x/{i}/{odd}"[:512], status=200 + i,
                          latency_ms=1.5 * i, actor_type="app_key", actor_id=str(uuid.uuid4()), workspace_id=workspace,
                          app_id=None if i % 2 else str(uuid.uuid4()), request_id=None if i == 0 else f"req-{i}",
                          created_at=when.replace(second=i)) for i in range(5)]
    for entry in entries:
        audit_log.record(entry)
    audit_log.record(AuditEntry(method="GET", endpoint="/v1/info", path="/v1/info", status=200, latency_ms=0.1))
    assert audit_log.flush() == 6
    rows, total = audit_log.query(workspace, AuditFilter(), page=1, limit=100)
    assert total == 5
    by_path = {row["path"]: row for row in rows}
    for entry in entries:
        row = by_path[entry.path]
        assert (row["method"], row["endpoint"], row["status"], row["actor_type"], row["actor_id"], row["app_id"],
                row["request_id"]) == (entry.method, entry.endpoint, entry.status, entry.actor_type, entry.actor_id,
                                       entry.app_id, entry.request_id)
        assert row["latency_ms"] == round(entry.latency_ms, 3)
        assert row["created_at"] == int(entry.created_at.timestamp())
    assert len({row["id"] for row in rows}) == 5
