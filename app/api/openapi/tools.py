"""OpenAPI paths of tool management (`/manage/v1/tool-providers`, `/manage/v1/tools`, admin tokens)."""

from __future__ import annotations

from app.api.openapi.components import (
    ANY_OBJ,
    STR,
    Schema,
    array,
    json_body,
    json_response,
    no_content,
    obj,
    operation,
    path,
    query,
)

TAG, KEY = "Management: tools", "AdminToken"
CREDENTIALS: Schema = {"type": "object", "additionalProperties": STR,
                       "description": "Credential name -> value; never returned (responses list names only)."}
INSTALL = obj({"provider_type": {"type": "string", "enum": ["api", "mcp", "workflow", "plugin"]}, "name": STR},
              {"provider_id": STR, "config": ANY_OBJ, "credentials": CREDENTIALS})
INSTALLED = obj({"id": STR, "provider_type": STR, "provider_id": STR, "name": STR, "config": ANY_OBJ,
                 "credentials_set": array(STR)}, {"tools": array(STR)})
BINARY: Schema = {"type": "string", "format": "binary"}
PACKAGE: Schema = {"required": True, "content": {"application/zip": {"schema": BINARY},
                                                 "application/octet-stream": {"schema": BINARY}}}
PROVIDER = [path("provider_type", "builtin, api, mcp, workflow or plugin"),
            {**path("provider_id", "e.g. tavily or langgenius/tavily/tavily"), "schema": STR}]


def tool_paths() -> dict[str, Schema]:
    record = path("record_id", "the installation's id")
    update = operation("updateToolProvider", "Change an installed provider's name, configuration or credentials",
                       TAG, KEY, {"200": json_response(INSTALLED)}, params=[record],
                       body=json_body(obj({}, {"name": STR, "config": ANY_OBJ, "credentials": CREDENTIALS})))
    return {
        "/manage/v1/tool-providers": {
            "get": operation("listToolProviders", "Built-in providers (with the credentials they take and which are "
                             "set) and the installed ones", TAG, KEY, {"200": json_response(obj(
                                 {"builtin": array(ANY_OBJ), "installed": array(INSTALLED), "kinds": array(STR)}))}),
            "post": operation("installToolProvider", "Install a provider (an OpenAPI schema with its auth, ...)",
                              TAG, KEY, {"201": json_response(INSTALLED, "Created")}, body=json_body(INSTALL))},
        "/manage/v1/tool-providers/plugins": {"post": operation(
            "installToolPlugin", "Install a Dify plugin package (.difypkg) the body carries; needs PLUGIN_PYTHON. "
            "400 when plugins are not enabled or the package is bad, 413 past PLUGIN_MAX_PACKAGE_BYTES", TAG, KEY,
            {"201": json_response(obj({"data": array(INSTALLED)}), "Created")}, body=PACKAGE,
            params=[query("name", description="Name of the installed providers (default: their ids)")])},
        "/manage/v1/tool-providers/{record_id}": {
            "put": update, "patch": {**update, "operationId": "patchToolProvider"},
            "delete": operation("deleteToolProvider", "Remove an installed provider", TAG, KEY,
                                {"204": no_content()}, params=[record])},
        "/manage/v1/tool-providers/{provider_type}/{provider_id}/credentials": {
            "put": operation("putToolCredentials", "Set (replace) a provider's credentials", TAG, KEY,
                             {"200": json_response(obj({"provider_type": STR, "provider_id": STR,
                                                        "credentials_set": array(STR)}))},
                             params=PROVIDER, body=json_body(obj({"credentials": CREDENTIALS}))),
            "delete": operation("deleteToolCredentials", "Clear a provider's credentials", TAG, KEY,
                                {"204": no_content()}, params=PROVIDER)},
        "/manage/v1/tools": {"get": operation(
            "listTools", "Every available tool with the JSON Schema of its arguments, by provider", TAG, KEY,
            {"200": json_response(obj({"data": array(ANY_OBJ)}))})},
    }
