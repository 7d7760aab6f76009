"""`sql` (beyond Dify): one parameterized, read-only query against a connection named in settings.

Data: `connection` (a name from SQL_CONNECTIONS), `query` with `:name` placeholders, `params`
(`[{name, value_selector}]`, values taken from the variable pool and bound by the driver, never written into the
SQL text) and an optional `max_rows` (capped by the server's limit). Outputs `rows` (a list of objects),
`row_count` and `truncated`. Needs `ctx.services.sql`; must not import `app.providers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError


class SqlRows(Protocol):
    rows: list[dict[str, Any]]
    truncated: bool


class SqlPort(Protocol):
    def query(self, connection: str, sql: str, params: Mapping[str, Any], max_rows: int | None = None) -> SqlRows:
        """Run one read-only statement with bound parameters. Raises WorkflowError."""
        ...


class SqlParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value_selector: list[str] = Field(default_factory=list)


class SqlData(NodeData):
    connection: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=100_000)
    params: list[SqlParam] = Field(default_factory=list)
    max_rows: int | None = Field(default=None, ge=1)


class SqlNode(Node):
    type = "sql"
    data_model = SqlData
    data: SqlData

    def selectors(self) -> list[list[str]]:
        return [p.value_selector for p in self.data.params if p.value_selector]

    def run(self, ctx: NodeContext) -> NodeResult:
        port: SqlPort | None = ctx.services.sql
        if port is None:
            raise WorkflowError("the SQL node has no configured connections on this server")
        params = {p.name: ctx.pool.get(p.value_selector) for p in self.data.params}
        result = port.query(self.data.connection, self.data.query, params, self.data.max_rows)
        return NodeResult(inputs={"connection": self.data.connection, "params": params},
                          process_data={"query": self.data.query},
                          outputs={"rows": result.rows, "row_count": len(result.rows),
                                   "truncated": result.truncated})
