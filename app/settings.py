"""The one typed, frozen Settings object, read from the environment.

Only the entry modules (`wsgi.py`, `worker/main.py`, `run.py`) construct it from the environment; everything
else receives it (or the backends built from it) as an argument. Tests build it with keyword arguments.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VectorStoreKind(StrEnum):
    embedded = "embedded"
    pgvector = "pgvector"
    pinecone = "pinecone"


class Settings(BaseSettings):
    """Every knob of Trellis. Field names are the environment variable names, case-insensitive."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=None)

    # Backends: unset means the embedded twin (SQLite database and queue, folder, embedded vectors).
    database_url: str | None = None
    # Connections kept open per process. Size it to the threads that touch the database at once: a checkout
    # beyond pool + overflow waits (up to 10 s), and overflow connections are closed when returned, so a pool
    # that is too small makes Postgres fork a backend per request under load (seen in the profile, issue 9).
    # Every process may open pool + overflow connections: keep the sum over processes under max_connections.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Test each pooled connection with a round trip before use. Off by default: it costs one round trip per
    # transaction (a third of a short run's), and without it a connection killed by a database restart fails
    # once, after which SQLAlchemy drops the whole pool (the API answers that request 503; a worker's run
    # is resumed from its checkpoints once its lease expires).
    db_pre_ping: bool = False
    redis_url: str | None = None
    object_store_url: str | None = None
    vector_store: VectorStoreKind = VectorStoreKind.embedded
    trellis_home: Path = Path("var")

    # LLM: the default OpenAI-compatible endpoint used by every provider without its own entry.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_timeout_seconds: float = 120.0
    # Provider routing (app/providers/llm_routes.py): a YAML file mapping Dify provider names to endpoints, key
    # environment variables and model aliases. Unset: every provider uses the default endpoint above.
    llm_providers_file: Path | None = None

    # Knowledge bases. EMBEDDING_MODEL empty: the offline hashing embedder (no endpoint, no download); else a model
    # of the OpenAI-compatible endpoint EMBEDDING_BASE_URL/EMBEDDING_API_KEY (default: the OPENAI_* ones).
    embedding_model: str = ""
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_batch_size: int = 64
    pinecone_api_key: SecretStr | None = None
    pinecone_index_host: str | None = None  # the data-plane host of the Pinecone index (one namespace per dataset)
    upload_max_bytes: int = 15 * 1024 * 1024

    # HTTP API.
    port: int = 5001
    admin_token: SecretStr | None = None
    # The deployment operator's token: the only credential that may pause, resume or list what every workspace
    # shares (queues, workers) and create workspaces. Unset: ADMIN_TOKEN is the operator.
    operator_token: SecretStr | None = None
    # Seconds a process trusts what it read of an `app-` key, an app's published version and its budget caps
    # (0: read them on every request). A change applies at once in the process that made it (a revoked key, a
    # new version) and within this many seconds in the others.
    cache_seconds: float = 5.0
    max_request_bytes: int = 15 * 1024 * 1024
    max_dsl_bytes: int = 2 * 1024 * 1024
    blocking_timeout_seconds: float = 600.0
    sse_ping_seconds: float = 10.0

    # Worker and durability.
    huey_name: str = "trellis"
    worker_threads: int = 16
    worker_health_port: int = 8081
    worker_drain_seconds: float = 25.0
    lease_seconds: float = 30.0
    reaper_interval_seconds: float = 10.0
    max_run_attempts: int = 3
    # A queued run older than this while the queue is empty lost its message (e.g. Redis restarted empty).
    queue_lost_seconds: float = 5.0
    max_execution_seconds: float = 1200.0
    max_steps: int = 500
    # Dify's engine limits: nesting of iterations/loops, bytes of one variable (a node output, or one input of a
    # run request: 400 invalid_param), rounds of a loop.
    max_call_depth: int = 5
    max_variable_bytes: int = 200 * 1024
    max_loop_count: int = 100
    # Admission: queued + running runs per app (0 = unlimited; an app's own max_active_runs wins), how long an
    # Idempotency-Key is remembered, and a per-key request rate (token bucket; 0 = off).
    max_active_runs_per_app: int = 0
    idempotency_ttl_seconds: float = 86400.0
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 50
    # Failed authentications (bad app/dataset key or admin token) per client IP per minute before that client is
    # refused with 429 until the minute ends (0 = off). TRUSTED_PROXY_HOPS: how many proxies in front of the API
    # append to X-Forwarded-For (0: the client is the TCP peer; the ingress sets 1).
    auth_failures_per_minute: int = 20
    trusted_proxy_hops: int = 0

    # Guards for user-directed side effects (docs/security.md). EGRESS_ALLOW: comma-separated CIDRs, addresses or
    # host names the http-request node may reach besides the public internet (e.g. an intranet API).
    egress_allow: str = ""
    http_max_connect_seconds: float = 10.0
    http_max_read_seconds: float = 600.0
    http_max_write_seconds: float = 600.0
    http_max_text_bytes: int = 1024 * 1024
    http_max_file_bytes: int = 10 * 1024 * 1024
    # The code node's sandbox: one confined child process per execution.
    sandbox_wall_seconds: float = 15.0
    sandbox_cpu_seconds: int = 10
    sandbox_memory_mb: int = 256
    sandbox_output_bytes: int = 1_000_000
    # Dify plugins (app/tools/plugin.py): PLUGIN_PYTHON is the base interpreter plugin environments are built with
    # (the dify-plugin SDK 0.10 needs Python >= 3.12); empty turns plugin installs off. Packages and environments
    # live under TRELLIS_HOME/plugins; PLUGIN_RUNTIMES_DIR puts the environments elsewhere (a cache shared by the
    # processes of one machine, so each is built once). Each plugin child gets PLUGIN_MEMORY_MB of address space;
    # an uploaded package may be at most PLUGIN_MAX_PACKAGE_BYTES.
    plugin_python: str = ""
    plugin_runtimes_dir: Path | None = None
    plugin_memory_mb: int = 1024
    plugin_max_package_bytes: int = 10 * 1024 * 1024
    # The sql node: JSON {"name": "postgresql://readonly_role@host/db" | "sqlite:///path.db"}, secret (URLs hold
    # passwords); a statement timeout and a row cap for every query.
    sql_connections: dict[str, SecretStr] = {}
    sql_timeout_seconds: float = 10.0
    sql_max_rows: int = 1000

    # Tools (issue 13). SECRET_KEY seals tool credentials at rest (unset: a key generated once into
    # TRELLIS_HOME/secret_key, fine for one machine; every API and worker process of a cluster needs the same
    # value). TOOL_TIMEOUT_SECONDS bounds one tool call. TOOL_ENDPOINTS: JSON {"provider_id": "base URL"} to send
    # a built-in web provider (tavily, jina, wikipedia...) to a proxy or a self-hosted mirror.
    secret_key: SecretStr | None = None
    tool_timeout_seconds: float = 30.0
    tool_endpoints: dict[str, str] = {}

    log_level: str = "INFO"

    # Operations (docs/operations.md). LOG_PAYLOADS logs prompts, inputs and keys unmasked: debugging only.
    log_payloads: bool = False
    # The price table (inline JSON/YAML or a file path; format in app/services/pricing.py). Empty: every call 0.
    pricing: str = ""
    metrics_enabled: bool = True
    # METRICS_PORT: a second port the API listens on (gunicorn.conf.py). When set, `/metrics` and `/ready` answer
    # only there (404 on PORT), so a proxy routing PORT to the internet cannot expose them. 0: both on PORT.
    metrics_port: int = 0
    audit_enabled: bool = True
    audit_retention_days: int = 90
    audit_purge_interval_seconds: float = 3600.0
    audit_field_limit: int = 2000  # characters of a node's inputs/outputs shown in a run's call chain
    stuck_run_seconds: float = 600.0  # the task console flags queued/running runs older than this
    # Traces (issue 17, docs/operations.md): the standard OpenTelemetry variables. Off unless an endpoint is set.
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_exporter_otlp_headers: SecretStr | None = None
    otel_exporter_otlp_timeout: float = 10.0  # seconds per export request (the spec's default is 10 s)
    otel_service_name: str = "trellis"
    otel_bsp_schedule_delay: int = 5000  # milliseconds between batch exports
    otel_sdk_disabled: bool = False
    trace_content: bool = False  # prompts, completions, node inputs/outputs on spans (masked, truncated)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL for SQLAlchemy; psycopg 3 is the Postgres driver, SQLite under TRELLIS_HOME otherwise."""
        if not self.database_url:
            return f"sqlite:///{(self.trellis_home / 'trellis.db').resolve()}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def is_embedded(self) -> bool:
        return not self.redis_url

    def ensure_home(self) -> Path:
        """Create TRELLIS_HOME if needed and return it (embedded data, generated admin token)."""
        self.trellis_home.mkdir(parents=True, exist_ok=True)
        return self.trellis_home
