"""The Dify-compatible Service API (`/v1`), authenticated by per-app `app-` keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context

from app import __version__
from app.api import container
from app.api.auth import app_principal
from app.api.responses import json_response
from app.api.schemas import StopRequest, WorkflowRunRequest, check_input_sizes, parse_json, parse_time
from app.errors import InvalidParam
from app.providers import json_codec
from app.services import run_views
from app.services.runs import LogFilter, parse_page

service = Blueprint("service", __name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


@service.get("/")
def index() -> Response:
    return jsonify({"welcome": "Trellis Service API (Dify-compatible)", "api_version": "v1",
                    "server_version": __version__})


@service.post("/workflows/run")
def run_workflow() -> Response:
    who = app_principal()
    body = parse_json(WorkflowRunRequest)
    check_input_sizes(body.inputs, container().settings.max_variable_bytes)
    runs = container().runs
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 255:
        raise InvalidParam("Idempotency-Key must be at most 255 characters", params="Idempotency-Key")
    trace = container().tracing.origin(request.headers, body.trace_id)
    ticket = runs.submit(who, body.inputs, body.user, body.response_mode, idempotency_key=key, trace=trace)
    timeout = container().settings.blocking_timeout_seconds
    if body.response_mode == "blocking":
        data = runs.wait_finished(ticket.run_id, timeout)
        return json_response({"task_id": ticket.task_id, "workflow_run_id": ticket.run_id, "data": data})
    return sse_batches(runs.follow_batches(ticket.run_id, timeout, heartbeat=container().settings.sse_ping_seconds))


def sse(events: Iterator[dict[str, Any] | None]) -> Response:
    """Relay run events as Server-Sent Events. A client that hangs up only stops the relay, never the run."""
    return sse_batches(None if payload is None else [payload] for payload in events)


def sse_batches(batches: Iterator[list[dict[str, Any]] | None]) -> Response:
    """`sse` for events that arrive in batches (`Runs.follow_batches`): the frames of a batch go out in one
    write (issue 18: a socket write per event cost more than encoding it). The bytes are those of `sse`."""

    def frames() -> Iterator[str]:
        for batch in batches:
            if batch is None:
                yield "event: ping\n\n"
            else:
                yield "".join([f"data: {json_codec.dumps(payload)}\n\n" for payload in batch])

    return Response(stream_with_context(frames()), mimetype="text/event-stream", headers=SSE_HEADERS)


@service.get("/workflows/run/<run_id>")
def get_run(run_id: str) -> Response:
    return jsonify(run_views.run_detail(container().runs.get(app_principal(), run_id)))


@service.post("/workflows/tasks/<task_id>/stop")
def stop_task(task_id: str) -> Response:
    who = app_principal()
    body = parse_json(StopRequest)
    container().runs.stop(who, task_id, body.user)
    return jsonify({"result": "success"})




@service.get("/workflows/logs")
def workflow_logs() -> Response:
    who = app_principal()
    page, limit = parse_page(request.args)
    status = request.args.get("status") or None
    if status and status not in ("succeeded", "failed", "stopped", "running", "partial-succeeded"):
        raise InvalidParam("status must be one of succeeded, failed, stopped, running, partial-succeeded",
                           params="status")
    flt = LogFilter(keyword=request.args.get("keyword") or None, status=status,
                    session_id=request.args.get("created_by_end_user_session_id") or None,
                    created_before=parse_time("created_at__before"), created_after=parse_time("created_at__after"))
    rows, total = container().runs.logs(who, flt, page, limit)
    data = [{
        "id": run.id,
        "workflow_run": {"id": run.id, "version": run.workflow_version_id, "status": run.status, "error": run.error,
                         "elapsed_time": run.elapsed_time, "total_tokens": run.total_tokens,
                         "total_steps": run.total_steps, "created_at": run_views.ts(run.created_at),
                         "finished_at": run_views.ts(run.finished_at), "exceptions_count": run.exceptions_count},
        "created_from": run.created_from,
        "created_by_role": "end_user",
        "created_by_account": None,
        "created_by_end_user": ({"id": run.end_user_id, "type": "service_api", "is_anonymous": False,
                                 "session_id": session_id} if run.end_user_id else None),
        "created_at": run_views.ts(run.created_at),
    } for run, session_id in rows]
    return jsonify({"page": page, "limit": limit, "total": total, "has_more": page * limit < total, "data": data})


@service.get("/info")
def info() -> Response:
    who = app_principal()
    app = container().apps.get(who.workspace_id, who.app_id)
    return jsonify({"name": app.name, "description": app.description, "tags": [], "mode": app.mode,
                    "author_name": ""})


@service.get("/parameters")
def parameters() -> Response:
    who = app_principal()
    workflow = container().apps.published(who.workspace_id, who.app_id)
    features = workflow.features
    form = []
    for var in workflow.graph.start.data.variables:
        spec: dict[str, Any] = {"label": var.label if var.label is not None else var.variable,
                                "variable": var.variable, "required": var.required, "default": var.default or ""}
        if var.max_length is not None:
            spec["max_length"] = var.max_length
        if var.type == "select":
            spec["options"] = var.options
        form.append({var.type: spec})
    upload = features.get("file_upload") or {}
    limits = upload.get("fileUploadConfig") or {}
    return jsonify({
        "opening_statement": features.get("opening_statement") or "",
        "suggested_questions": features.get("suggested_questions") or [],
        "suggested_questions_after_answer": features.get("suggested_questions_after_answer") or {"enabled": False},
        "speech_to_text": features.get("speech_to_text") or {"enabled": False},
        "text_to_speech": features.get("text_to_speech") or {"enabled": False},
        "retriever_resource": features.get("retriever_resource") or {"enabled": False},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "sensitive_word_avoidance": features.get("sensitive_word_avoidance") or {"enabled": False},
        "user_input_form": form,
        "file_upload": upload or {"enabled": False},
        "system_parameters": {
            "file_size_limit": limits.get("file_size_limit", 15),
            "image_file_size_limit": limits.get("image_file_size_limit", 10),
            "audio_file_size_limit": limits.get("audio_file_size_limit", 50),
            "video_file_size_limit": limits.get("video_file_size_limit", 100),
            "workflow_file_upload_limit": limits.get("workflow_file_upload_limit", 10),
        },
    })
