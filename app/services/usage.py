"""Usage and cost reports over a time range, grouped by app, model, day or month (UTC), for one workspace.

Per group: LLM calls, prompt/completion/total tokens and cost (from `llm_calls`), runs, failed runs, error
rate and p50/p95 latency. For app/day/month the run figures come from finished `workflow_runs` (latency is
the run's elapsed time, errors are failed runs); for model they come from the calls themselves (runs that
called the model, failed calls, call latency). Sums are done in SQL; percentiles use Postgres'
`percentile_cont` there and the same linear interpolation in Python on SQLite, so both agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from app.models import App, LlmCall, WorkflowRun
from app.services.pricing import to_display

FINAL = ("succeeded", "failed", "stopped", "partial-succeeded")


class GroupBy(StrEnum):
    app = "app"
    model = "model"
    day = "day"
    month = "month"


@dataclass(frozen=True)
class UsageQuery:
    workspace_id: str
    group_by: GroupBy
    start: datetime
    end: datetime


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as Postgres' percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Usage:
    def __init__(self, sessions: sessionmaker[Session], currency: str = "USD") -> None:
        self._sessions = sessions
        self._currency = currency

    def report(self, q: UsageQuery) -> dict[str, Any]:
        with self._sessions() as session:
            postgres = _dialect(session) == "postgresql"
            groups: dict[str, dict[str, Any]] = defaultdict(_empty)
            self._calls(session, q, postgres, groups)
            if q.group_by == GroupBy.model:
                self._latency(session, q, postgres, groups, LlmCall)
            else:
                self._runs(session, q, postgres, groups)
                self._latency(session, q, postgres, groups, WorkflowRun)
            names = self._app_names(session, list(groups)) if q.group_by == GroupBy.app else {}
        data = []
        for key in sorted(groups):
            g = groups[key]
            nanos = g.pop("nanos")
            item = {"key": key, **({"name": names.get(key)} if q.group_by == GroupBy.app else {}), **g,
                    "total_price": to_display(nanos), "currency": self._currency,
                    "error_rate": round(g["failed"] / g["runs"], 4) if g["runs"] else 0.0}
            data.append(item)
        return {"group_by": str(q.group_by), "from": q.start.isoformat(), "to": q.end.isoformat(),
                "currency": self._currency, "data": data}

    def _calls(self, session: Session, q: UsageQuery, postgres: bool, groups: dict[str, dict[str, Any]]) -> None:
        key = group_key(q.group_by, postgres, LlmCall).label("k")
        stmt = (select(key, func.count(), func.sum(LlmCall.prompt_tokens), func.sum(LlmCall.completion_tokens),
                       func.sum(LlmCall.price_nanos), func.count(func.distinct(LlmCall.run_id)),
                       func.sum(case((LlmCall.outcome == "error", 1), else_=0)))
                .where(LlmCall.workspace_id == q.workspace_id, LlmCall.created_at >= q.start,
                       LlmCall.created_at < q.end).group_by(key))
        for k, calls, prompt, completion, nanos, runs, errors in session.execute(stmt):
            g = groups[str(k)]
            g.update(calls=int(calls), prompt_tokens=int(prompt or 0), completion_tokens=int(completion or 0),
                     total_tokens=int(prompt or 0) + int(completion or 0), nanos=int(nanos or 0))
            if q.group_by == GroupBy.model:
                g.update(runs=int(runs), failed=int(errors or 0))

    def _runs(self, session: Session, q: UsageQuery, postgres: bool, groups: dict[str, dict[str, Any]]) -> None:
        key = group_key(q.group_by, postgres, WorkflowRun).label("k")
        stmt = (select(key, func.count(), func.sum(case((WorkflowRun.status == "failed", 1), else_=0)))
                .where(*_run_filter(q)).group_by(key))
        for k, runs, failed in session.execute(stmt):
            groups[str(k)].update(runs=int(runs), failed=int(failed or 0))

    def _latency(self, session: Session, q: UsageQuery, postgres: bool, groups: dict[str, dict[str, Any]],
                 model: type[Any]) -> None:
        key = group_key(q.group_by, postgres, model).label("k")
        value = LlmCall.latency if model is LlmCall else WorkflowRun.elapsed_time
        where = ((LlmCall.workspace_id == q.workspace_id, LlmCall.created_at >= q.start, LlmCall.created_at < q.end)
                 if model is LlmCall else _run_filter(q))
        if postgres:
            stmt = (select(key, func.percentile_cont(0.5).within_group(value),
                           func.percentile_cont(0.95).within_group(value)).where(*where).group_by(key))
            for k, p50, p95 in session.execute(stmt):
                groups[str(k)].update(latency_p50=_round(p50), latency_p95=_round(p95))
            return
        samples: dict[str, list[float]] = defaultdict(list)
        for k, v in session.execute(select(key, value).where(*where)):
            samples[str(k)].append(float(v or 0.0))
        for k, values in samples.items():
            groups[k].update(latency_p50=_round(percentile(values, 0.5)), latency_p95=_round(percentile(values, 0.95)))

    def _app_names(self, session: Session, app_ids: list[str]) -> dict[str, str]:
        rows = session.execute(select(App.id, App.name).where(App.id.in_(app_ids))) if app_ids else []
        return {i: n for i, n in rows}


def group_key(group_by: GroupBy, postgres: bool, model: type[Any]) -> ColumnElement[Any]:
    """The grouping expression: an id column, or the UTC day/month of `created_at` as text."""
    if group_by == GroupBy.app:
        return func.coalesce(model.app_id, "")  # type: ignore[no-any-return]
    if group_by == GroupBy.model:
        return LlmCall.provider + "/" + LlmCall.model
    if postgres:
        fmt = "YYYY-MM-DD" if group_by == GroupBy.day else "YYYY-MM"
        return func.to_char(func.timezone("UTC", model.created_at), fmt)  # type: ignore[no-any-return]
    # SQLite stores UTC timestamps as ISO text, which strftime reads directly.
    return func.strftime("%Y-%m-%d" if group_by == GroupBy.day else "%Y-%m", model.created_at)  # type: ignore[no-any-return]


def _run_filter(q: UsageQuery) -> tuple[ColumnElement[bool], ...]:
    return (WorkflowRun.workspace_id == q.workspace_id, WorkflowRun.status.in_(FINAL),
            WorkflowRun.created_at >= q.start, WorkflowRun.created_at < q.end)


def _empty() -> dict[str, Any]:
    return {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "nanos": 0, "runs": 0,
            "failed": 0, "latency_p50": None, "latency_p95": None}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name if isinstance(bind, Engine) else bind.engine.dialect.name
