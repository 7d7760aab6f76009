"""Adapters to the outside world (LLM endpoints, event logs, object stores). Each adapter takes its client
injected, translates vendor exceptions into `app.errors` at the edge and never returns vendor types.
Providers must not import `app.api`, `app.services`, `app.engine.runner` or `worker`."""
