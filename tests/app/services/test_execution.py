"""The executor's resume path on real storage: checkpoints written by one attempt are read back by the next,
including the branch an if-else took."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from app.db import transaction
from app.models import NodeExecution, WorkflowRun
from app.services.accounts import AppPrincipal
from app.services.leases import Leases
from tests.conftest import build_test_container

BRANCHING = """
app: {name: branching, mode: workflow}
kind: app
version: 0.1.5
workflow:
  graph:
    edges:
    - {source: start, target: if}
    - {source: if, sourceHandle: 'true', target: big}
    - {source: if, sourceHandle: 'false', target: small}
    - {source: big, target: end}
    - {source: small, target: end}
    nodes:
    - {id: start, data: {type: start, variables: [{variable: x, type: number, required: true}]}}
    - id: if
      data:
        type: if-else
        cases:
        - case_id: 'true'
          logical_operator: and
          conditions: [{variable_selector: [start, x], comparison_operator: '≥', value: '5'}]
    - {id: big, data: {type: template-transform, template: big, variables: []}}
    - {id: small, data: {type: template-transform, template: small, variables: []}}
    - id: end
      data:
        type: end
        outputs:
        - {variable: big, value_selector: [big, output]}
        - {variable: small, value_selector: [small, output]}
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_resumed_attempt_restores_the_if_else_branch_from_its_checkpoint(backend, make_settings, request):
    overrides = {"database_url": request.getfixturevalue("postgres_url")} if backend == "postgres" else {}
    container = build_test_container(make_settings(**overrides))
    try:
        workspace = container.accounts.default_workspace_id()
        app = container.apps.import_dsl(workspace, BRANCHING)
        run_id = container.runs.submit(AppPrincipal(workspace, app.id, "k"), {"x": 3}, "u1", "blocking").run_id
        first = container.runs.load(run_id)
        assert first.status == "succeeded" and first.outputs == {"big": None, "small": "small"}
        # Pretend the worker died after the if-else: keep its checkpoint (and the start's), drop the rest, and
        # change the inputs so that re-evaluating the condition would now take the other branch.
        with transaction(container.sessions) as session:
            session.execute(delete(NodeExecution).where(NodeExecution.run_id == run_id,
                                                        NodeExecution.node_id.not_in(["start", "if"])))
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(
                status="queued", outputs=None, finished_at=None, inputs={"x": 9}))
        lease = Leases(container.sessions, lease_seconds=30).acquire(run_id, "w2")
        assert lease is not None and not lease.started_now
        from worker.runtime import build_runtime

        build_runtime(container).executor.execute(lease)
        resumed = container.runs.load(run_id)
        assert resumed.status == "succeeded" and resumed.outputs == {"big": None, "small": "small"}
    finally:
        container.close()
