"""Tools: the one registry that the tool node, the agent node and the management API share.

A provider kind (built-in, OpenAPI, MCP, workflow-as-tool, dify-plugin) is an adapter behind the small
`ToolProvider` protocol in `app/tools/provider.py`; the registry resolves a `ToolRef` for a workspace to a
provider and implements the engine's `ToolRuntime` port. Layer: beside providers (looks down at
`app.providers` and `app.engine.ports` only; never at services or api).
"""
