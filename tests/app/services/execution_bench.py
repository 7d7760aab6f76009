"""The executor test bench: a private runs database (tests/run_table.py) with small apps imported, the
executor over it with metering and chat hooks, and what the tests read back. The `bench` fixture is in this
folder's conftest."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.engine.runner import Limits
from app.engine.state import NodeRecord, NodeStatus
from app.models import NodeExecution
from app.providers.events.sql_table import SqlEventLog
from app.services.apps import Apps
from app.services.chat_runs import ChatRunHooks
from app.services.execution import RunExecutor
from app.services.leases import Lease, Leases
from app.services.metering import UsageRecorder
from app.services.pricing import Price, PriceTable
from app.wiring import build_llm
from tests.run_table import RunTable

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


LLM_ONLY = """
app: {name: one-llm, mode: workflow}
kind: app
version: 0.1.5
workflow:
  environment_variables:
  - {name: token, value_type: secret, value: sk-live-0123456789abcdef}
  graph:
    edges:
    - {source: start, target: llm}
    - {source: llm, target: end}
    nodes:
    - {id: start, data: {type: start, variables: [{variable: q, type: text-input, required: true}]}}
    - id: llm
      data:
        type: llm
        model: {provider: openai, name: gpt-4o-mini, mode: chat, completion_params: {}}
        prompt_template: [{role: user, text: '{{#start.q#}}'}]
    - {id: end, data: {type: end, outputs: [{variable: answer, value_selector: [llm, text]}]}}
"""

SYSTEM = """
app: {name: system, mode: workflow}
kind: app
version: 0.1.5
workflow:
  graph:
    edges:
    - {source: start, target: end}
    nodes:
    - {id: start, data: {type: start, variables: []}}
    - id: end
      data:
        type: end
        outputs:
        - {variable: user, value_selector: [sys, user_id]}
        - {variable: app, value_selector: [sys, app_id]}
        - {variable: workflow, value_selector: [sys, workflow_id]}
        - {variable: run, value_selector: [sys, workflow_run_id]}
        - {variable: files, value_selector: [sys, files]}
"""

CHAT = """
app: {name: parrot, mode: advanced-chat}
kind: app
version: 0.1.5
workflow:
  conversation_variables:
  - {name: turns, value_type: number, value: 0}
  graph:
    edges:
    - {source: start, target: count}
    - {source: count, target: answer}
    nodes:
    - {id: start, data: {type: start, variables: []}}
    - id: count
      data:
        type: assigner
        version: '2'
        items:
        - {variable_selector: [conversation, turns], operation: +=, input_type: constant, value: 1}
    - {id: answer, data: {type: answer, answer: 'You said {{#sys.query#}}'}}
"""


@dataclass
class Bench:
    table: RunTable
    executor: RunExecutor
    leases: Leases
    events: SqlEventLog

    def claim(self, run_id: str) -> Lease:
        lease = self.leases.acquire(run_id, "w")
        assert lease is not None
        return lease

    def event_names(self, run_id: str) -> list[str]:
        return [payload["event"] for _, payload in self.events.read(run_id, None, 0)]

    def nodes(self, run_id: str) -> list[NodeExecution]:
        with self.table.sessions() as session:
            return list(session.scalars(select(NodeExecution).where(NodeExecution.run_id == run_id)
                                        .order_by(NodeExecution.index)))


PRICES = PriceTable(currency="EUR", prices={"*": Price(Decimal(1000), Decimal(3000))})


def make_bench(run_table: RunTable, make_settings: Any) -> Bench:
    apps = Apps(run_table.sessions)
    for name, dsl in (("branching", BRANCHING), ("llm", LLM_ONLY), ("system", SYSTEM), ("chat", CHAT)):
        view = apps.import_dsl(run_table.workspace_id, dsl)
        assert view.published_version_id is not None
        run_table.apps[name] = (view.id, view.published_version_id)
    events = SqlEventLog(run_table.sessions)
    executor = RunExecutor(run_table.sessions, apps, events, build_llm(make_settings()), Limits(),
                           recorder=UsageRecorder(run_table.sessions, PRICES), chat=ChatRunHooks(run_table.sessions))
    return Bench(run_table, executor, Leases(run_table.sessions, lease_seconds=30), events)

def node_record(node_id: str, node_type: str, status: NodeStatus = NodeStatus.succeeded, tokens: int = 0) -> NodeRecord:
    return NodeRecord(execution_id=f"x-{node_id}", node_id=node_id, node_type=node_type, title=node_id.title(),
                      index=3, predecessor_node_id="start", status=status, inputs={"a": 1},
                      process_data={"p": 2}, outputs={"o": 3}, edge_handle="true", error="e", elapsed_time=1.5,
                      total_tokens=tokens, metadata={"m": 4})
