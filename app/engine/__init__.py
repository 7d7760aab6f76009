"""The workflow engine: parses Dify DSL, validates the graph and runs it.

It performs no I/O of its own: LLM calls, events, checkpoints and stop checks go through the ports handed to
the runner (`app.engine.ports`). It must not import `app.api`, `app.services`, `app.models`, `worker` or
any settings; it may import `app.errors`.
"""
