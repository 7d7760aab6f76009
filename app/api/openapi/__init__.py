"""The OpenAPI 3.1 document of the Service API (`/v1`) and the management API (`/manage/v1`), served at
`GET /v1/openapi.json` and browsable at `GET /v1/docs` (a server-rendered page, no script or CDN asset); both
need no credential. Request-body schemas are generated from the views' pydantic models, so the document
cannot drift from what the API validates; response schemas are written in `components.py`.

Layout: `components.py` (shared schemas and constructors), `service.py`, `knowledge.py`, `manage.py` (paths by
area). The document is built once per process, on first request."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import __version__
from app.api.openapi.components import SCHEMAS, SECURITY_SCHEMES
from app.api.openapi.knowledge import knowledge_paths
from app.api.openapi.labels import SCHEMAS as LABEL_SCHEMAS
from app.api.openapi.labels import label_paths
from app.api.openapi.manage import manage_paths
from app.api.openapi.service import service_paths
from app.api.openapi.tools import tool_paths

openapi = Blueprint("openapi", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


def request_models() -> list[type[BaseModel]]:
    from app.api.chat import ChatMessageRequest, CompletionMessageRequest, RenameRequest, UserBody
    from app.api.datasets import (
        DatasetBody,
        DatasetPatch,
        RetrieveBody,
        SegmentBody,
        SegmentsBody,
        StatusBody,
        TextDocument,
    )
    from app.api.feedback import FeedbackRequest
    from app.api.schemas import StopRequest, WorkflowRunRequest

    return [WorkflowRunRequest, StopRequest, ChatMessageRequest, CompletionMessageRequest, RenameRequest, UserBody,
            DatasetBody,
            DatasetPatch, TextDocument, StatusBody, SegmentsBody, SegmentBody, RetrieveBody, FeedbackRequest,
            *label_models()]


def label_models() -> list[type[BaseModel]]:
    from app.api.dataset_labels import (
        DocumentsMetadataBody,
        MetadataBody,
        MetadataRename,
        TagBindingBody,
        TagBody,
        TagRef,
        TagRename,
        TagUnbindingBody,
    )

    return [TagBody, TagRename, TagRef, TagBindingBody, TagUnbindingBody, MetadataBody, MetadataRename,
            DocumentsMetadataBody]


@cache
def build_document() -> dict[str, Any]:
    """The whole document as a dict (cached: it depends on code only)."""
    _, generated = models_json_schema([(m, "validation") for m in request_models()],
                                      ref_template="#/components/schemas/{model}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Trellis API", "version": __version__,
                 "description": "Dify-compatible Service API (`/v1`, `app-` and `ds-` keys) and the Trellis "
                                "management API (`/manage/v1`, admin tokens). Every error is JSON "
                                "`{code, message, status}`; streaming responses are Server-Sent Events."},
        "servers": [{"url": "/"}],
        "paths": {**service_paths(), **knowledge_paths(), **label_paths(), **manage_paths(), **tool_paths()},
        "components": {"schemas": {**generated.get("$defs", {}), **SCHEMAS, **LABEL_SCHEMAS},
                       "securitySchemes": SECURITY_SCHEMES},
    }


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """(method, path, summary, tag, auth) rows for the docs page, in document order."""
    rows = []
    for route, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                auth = ", ".join(name for s in op["security"] for name in s) or "none"
                rows.append({"method": method.upper(), "path": route, "summary": op["summary"],
                             "tag": op["tags"][0], "auth": auth, "id": op["operationId"],
                             "codes": ", ".join(op["responses"])})
    return rows


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ info.title }} {{ info.version }}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
code{font-size:13px}.m{font-weight:bold}.GET{color:#06c}.POST{color:#080}.DELETE{color:#b00}.PUT,.PATCH{color:#a60}
</style></head><body>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<p>{{ info.description }}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI {{ version }}).</p>
{% for tag, rows in groups %}<h2>{{ tag }}</h2>
<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Credential</th><th>Responses</th></tr>
{% for r in rows %}<tr id="{{ r.id }}"><td class="m {{ r.method }}">{{ r.method }}</td>
<td><code>{{ r.path }}</code></td><td>{{ r.summary }}</td><td>{{ r.auth }}</td><td>{{ r.codes }}</td></tr>
{% endfor %}</table>{% endfor %}
</body></html>"""


@openapi.get("/openapi.json")
def document() -> Response:
    return jsonify(build_document())


@openapi.get("/docs")
def docs() -> str:
    doc = build_document()
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in operations(doc):
        groups.setdefault(row["tag"], []).append(row)
    return render_template_string(PAGE, info=doc["info"], version=doc["openapi"], groups=list(groups.items()))
