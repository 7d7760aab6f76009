"""Dify's JSON shapes for runs and run events, built in one place for the API and the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.engine.events import AgentLog, EngineEvent, NodeFinished, NodeStarted, TextChunk
from app.models import WorkflowRun
from app.models.base import as_utc
from app.services.pricing import to_display


def ts(value: datetime | None) -> int | None:
    value = as_utc(value)
    return int(value.timestamp()) if value else None


def run_data(run: WorkflowRun) -> dict[str, Any]:
    """The `data` object of a blocking response and of `workflow_finished`."""
    return {
        "id": run.id,
        "workflow_id": run.workflow_version_id,
        "status": run.status,
        "outputs": run.outputs,
        "error": run.error,
        "elapsed_time": round(run.elapsed_time or 0.0, 6),
        "total_tokens": run.total_tokens,
        "total_steps": run.total_steps,
        "created_at": ts(run.created_at),
        "finished_at": ts(run.finished_at),
        "execution_metadata": run_price(run),
    }


def run_price(run: WorkflowRun) -> dict[str, Any]:
    """Dify's `execution_metadata` totals for a run: tokens and the priced cost of its LLM calls."""
    return {"total_tokens": run.total_tokens, "total_price": to_display(run.total_price_nanos or 0),
            "currency": run.price_currency or "USD"}


def run_detail(run: WorkflowRun) -> dict[str, Any]:
    """`GET /v1/workflows/run/{id}`."""
    detail = run_data(run)
    detail["inputs"] = run.inputs
    return detail


def envelope(event: str, run: WorkflowRun, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "task_id": run.task_id, "workflow_run_id": run.id, "data": data}


def workflow_started(run: WorkflowRun) -> dict[str, Any]:
    return envelope("workflow_started", run, {"id": run.id, "workflow_id": run.workflow_version_id,
                                              "inputs": run.inputs, "created_at": ts(run.created_at)})


def workflow_finished(run: WorkflowRun) -> dict[str, Any]:
    return envelope("workflow_finished", run, run_data(run))


def text_chunk(run: WorkflowRun, text: str, selector: tuple[str, ...]) -> dict[str, Any]:
    return envelope("text_chunk", run, {"text": text, "from_variable_selector": list(selector)})


def engine_event(run: WorkflowRun, event: EngineEvent) -> dict[str, Any]:
    if isinstance(event, TextChunk):
        return text_chunk(run, event.text, event.from_variable_selector)
    if isinstance(event, AgentLog):
        return envelope("agent_log", run, {
            "node_execution_id": event.node_execution_id, "node_id": event.node_id, "id": event.id,
            "label": event.label, "parent_id": event.parent_id, "status": event.status, "error": event.error,
            "data": event.data, "metadata": event.metadata})
    record = event.record
    data: dict[str, Any] = {
        "id": record.execution_id, "node_id": record.node_id, "node_type": record.node_type, "title": record.title,
        "index": record.index, "predecessor_node_id": record.predecessor_node_id,
        "created_at": int(record.started_at),
    }
    if isinstance(event, NodeStarted):
        data["inputs"] = None
        return envelope("node_started", run, data)
    assert isinstance(event, NodeFinished)
    data.update({
        "inputs": record.inputs, "process_data": record.process_data, "outputs": record.outputs,
        "status": str(record.status), "error": record.error, "elapsed_time": round(record.elapsed_time, 6),
        # total_price/currency come from the price table via the executor (app/services/metering.py).
        "execution_metadata": {"total_tokens": record.total_tokens, "total_price": "0.0000000", "currency": "USD",
                               **{k: v for k, v in record.metadata.items() if k != "total_tokens"}},
        "finished_at": int(record.finished_at),
    })
    return envelope("node_finished", run, data)
