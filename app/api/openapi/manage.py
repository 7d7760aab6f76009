"""OpenAPI paths of the management API (`/manage/v1`, admin tokens): apps and their DSL, versions and keys,
knowledge keys, budgets, usage, the audit trail and the task console."""

from __future__ import annotations

from app.api.openapi.components import (
    ANY_OBJ,
    JSON,
    STR,
    Schema,
    array,
    json_response,
    no_content,
    obj,
    operation,
    page_of,
    path,
    query,
    ref,
)

TAG_APPS, TAG_OPS = "Management: apps", "Management: operations"
KEY = "AdminToken"
APP = path("app_id")
YAML = "application/yaml"


def dsl_body() -> Schema:
    return {"required": True, "description": "A Dify DSL file (YAML), or JSON `{\"data\": \"<yaml>\"}`.",
            "content": {YAML: {"schema": STR}, JSON: {"schema": obj({"data": STR})}}}


def page_params(maximum: int) -> list[Schema]:
    return [query("page", {"type": "integer", "minimum": 1, "default": 1}),
            query("limit", {"type": "integer", "minimum": 1, "maximum": maximum})]


def manage_paths() -> dict[str, Schema]:
    run = path("run_id")
    queue = {**path("queue"), "schema": {"type": "string", "enum": ["runs", "indexing"]}}
    action = {"200": json_response(ANY_OBJ)}
    return {
        "/manage/v1/apps": {
            "post": operation("importApp", "Import a Dify DSL as a new, published app", TAG_APPS, KEY,
                              {"201": json_response(ref("AppCreated"), "Created")}, body=dsl_body()),
            "get": operation("listApps", "The workspace's apps", TAG_APPS, KEY,
                             {"200": json_response(page_of(ref("App")))}, params=page_params(100))},
        "/manage/v1/apps/{app_id}": {
            "get": operation("getApp", "An app", TAG_APPS, KEY, {"200": json_response(ref("App"))}, params=[APP]),
            "put": operation("publishApp", "Publish a new version from DSL", TAG_APPS, KEY,
                             {"200": json_response(ref("App"))}, body=dsl_body(), params=[APP]),
            "patch": operation("setAppBudget", "Set the app's monthly token/cost budget", TAG_OPS, KEY,
                               {"200": json_response(ref("App"))}, params=[APP], body={
                                   "required": True, "content": {JSON: {"schema": {
                                       "type": "object", "properties": {
                                           "monthly_token_budget": {"type": ["integer", "null"]},
                                           "monthly_cost_budget": {"type": ["string", "number", "null"]}}}}}}),
            "delete": operation("deleteApp", "Delete an app", TAG_APPS, KEY, {"204": no_content()}, params=[APP])},
        "/manage/v1/apps/{app_id}/versions": {"get": operation(
            "listVersions", "Published versions, newest first", TAG_APPS, KEY,
            {"200": json_response(obj({"data": array(ref("Version"))}))}, params=[APP])},
        "/manage/v1/apps/{app_id}/dsl": {"get": operation(
            "exportDsl", "The published version's DSL", TAG_APPS, KEY,
            {"200": {"description": "YAML", "content": {YAML: {"schema": STR}}}}, params=[APP])},
        "/manage/v1/apps/{app_id}/api-keys": {
            "post": operation("createAppKey", "A new `app-` key (the token is shown once)", TAG_APPS, KEY,
                              {"201": json_response(ref("KeyCreated"), "Created")}, params=[APP]),
            "get": operation("listAppKeys", "The app's live keys (prefixes only)", TAG_APPS, KEY,
                             {"200": json_response(obj({"data": array(ref("KeyInfo"))}))}, params=[APP])},
        "/manage/v1/apps/{app_id}/api-keys/{key_id}": {"delete": operation(
            "revokeAppKey", "Revoke a key", TAG_APPS, KEY, {"204": no_content()}, params=[APP, path("key_id")])},
        "/manage/v1/apps/{app_id}/budget": {"get": operation(
            "getAppBudget", "The app's budget and this month's spend", TAG_OPS, KEY, {"200": json_response(ANY_OBJ)},
            params=[APP])},
        "/manage/v1/apps/{app_id}/triggers": {"get": operation(
            "listAppTriggers", "The app's schedule and webhook (`webhook_path`: POST there to start a run)",
            TAG_APPS, KEY, {"200": json_response(obj({"data": array(ANY_OBJ)}))}, params=[APP])},
        "/manage/v1/datasets/api-keys": {"post": operation(
            "createDatasetKey", "A new `ds-` knowledge key (shown once)", TAG_APPS, KEY,
            {"201": json_response(ref("KeyCreated"), "Created")})},
        "/manage/v1/datasets/api-keys/{key_id}": {"delete": operation(
            "revokeDatasetKey", "Revoke a knowledge key", TAG_APPS, KEY, {"204": no_content()},
            params=[path("key_id")])},
        "/manage/v1/audit": {"get": operation(
            "listAudit", "The audit trail", TAG_OPS, KEY,
            {"200": json_response(page_of(ANY_OBJ))},
            params=[*page_params(500), query("from"), query("to"), query("actor_id"), query("app_id"),
                    query("endpoint"), query("method"),
                    query("status", description="A status code (404) or a class (4xx)")])},
        "/manage/v1/audit/runs/{run_id}": {"get": operation(
            "getRunChain", "A run's call chain (nodes, LLM calls)", TAG_OPS, KEY, {"200": json_response(ANY_OBJ)},
            params=[run])},
        "/manage/v1/runs/{run_id}/node-executions": {"get": operation(
            "getRunNodeExecutions", "A run's workflow with DSL positions and node executions", TAG_OPS, KEY,
            {"200": json_response(ANY_OBJ)}, params=[run])},
        "/manage/v1/usage": {"get": operation(
            "getUsage", "Token and cost usage", TAG_OPS, KEY, {"200": json_response(ANY_OBJ)},
            params=[query("group_by", {"type": "string", "enum": ["app", "model", "day", "month"]}),
                    query("from"), query("to")])},
        "/manage/v1/tasks": {"get": operation("getTasksOverview", "Queue and run counts", TAG_OPS, KEY,
                                              {"200": json_response(ANY_OBJ)})},
        "/manage/v1/tasks/runs": {"get": operation(
            "listTaskRuns", "Runs by status (`stuck` too)", TAG_OPS, KEY, {"200": json_response(page_of(ANY_OBJ))},
            params=[*page_params(500), query("status"), query("app_id")])},
        "/manage/v1/tasks/runs/{run_id}/cancel": {"post": operation(
            "cancelRun", "Cancel a queued or running run", TAG_OPS, KEY, action, params=[run])},
        "/manage/v1/tasks/runs/{run_id}/retry": {"post": operation(
            "retryRun", "Retry a failed run (optionally from scratch)", TAG_OPS, KEY, action, params=[run],
            body={"required": False, "content": {JSON: {"schema": {
                "type": "object", "properties": {"from_scratch": {"type": "boolean"}}}}}})},
        "/manage/v1/tasks/runs/{run_id}/requeue": {"post": operation(
            "requeueRun", "Put a stuck run back on the queue", TAG_OPS, KEY, action, params=[run])},
        "/manage/v1/tasks/queues/{queue}/pause": {"post": operation(
            "pauseQueue", "Pause a queue (`runs` or `indexing`): workers start nothing new from it. Operator only "
            "(403 for a workspace admin)", TAG_OPS, KEY,
            action, params=[queue])},
        "/manage/v1/tasks/queues/{queue}/resume": {"post": operation(
            "resumeQueue", "Resume a paused queue and send what waits to the workers. Operator only", TAG_OPS, KEY,
            action,
            params=[queue])},
        "/manage/v1/tasks/queues/{queue}/purge": {"post": operation(
            "purgeQueue", "Stop this workspace's queued runs (optionally one app's)", TAG_OPS, KEY, action,
            params=[queue], body={"required": False, "content": {JSON: {"schema": {
                "type": "object", "properties": {"app_id": {"type": "string"}}}}}})},
        "/manage/v1/tasks/workers": {"get": operation(
            "listWorkers", "Worker processes with their last heartbeat. Operator only", TAG_OPS, KEY, action)},
        "/manage/v1/workspaces": {"post": operation(
            "createWorkspace", "Create a workspace and its first admin token (shown once). Operator only", TAG_OPS,
            KEY, {"201": json_response(obj({"id": STR, "name": STR,
                                            "admin_token": obj({"id": STR, "token": STR})}), "Created")},
            body={"required": True, "content": {JSON: {"schema": obj({"name": STR})}}})},
    }

