"""The one place that turns Settings into backends: database, queue, event log, LLM gateway and services.

This is the composition root, so it is the one module of `app` allowed to import `worker` (for the Huey
instance and its task set, which API and consumer must share)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory
from app.engine.ports import LLMGateway, NodeServices
from app.engine.runner import Limits
from app.providers.auth_failures import AuthFailures, MemoryAuthFailures, NoAuthLimit, RedisAuthFailures
from app.providers.events import EventLog
from app.providers.llm import LLMRouter, UnconfiguredLLM, build_openai_gateway
from app.providers.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, Unlimited
from app.services.accounts import Accounts
from app.services.admission import Admission
from app.services.app_profile import AppProfiles
from app.services.apps import Apps
from app.services.chat import Chats
from app.services.conversations import Conversations
from app.services.feedbacks import Feedbacks
from app.services.operations import Operations, build_operations
from app.services.queue import TaskQueue
from app.services.run_trace import Tracing, tracing_from
from app.services.runs import Runs
from app.settings import Settings

if TYPE_CHECKING:
    from huey import Huey

    from app.providers.embeddings import Embeddings
    from app.providers.objects import ObjectStore
    from app.providers.vectors import VectorStore
    from app.services.knowledge_base import KnowledgeBase
    from app.services.metering import UsageRecorder
    from app.services.tools.admin import ToolAdmin
    from app.services.triggers import Triggers
    from app.tools.registry import ToolRegistry
    from worker.runtime import WorkerRuntime


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    events: EventLog
    llm: LLMGateway
    huey: Huey
    queue: TaskQueue
    accounts: Accounts
    apps: Apps
    runs: Runs
    redis: Any = None
    rate_limiter: RateLimiter = field(default_factory=Unlimited)
    auth_failures: AuthFailures = field(default_factory=NoAuthLimit)  # failed logins per client IP
    ops: Operations | None = None  # metering, audit, usage, budgets, task console (always set by build)
    tracing: Tracing = field(default_factory=Tracing)  # OpenTelemetry traces of runs (issue 17); off by default

    @cached_property
    def chats(self) -> Chats:
        """Chatflow turns; built from the fields above, so it needs no argument of its own."""
        return Chats(self.sessions, self.apps, self.runs)

    @cached_property
    def conversations(self) -> Conversations:
        return Conversations(self.sessions, self.apps, self.llm)

    @cached_property
    def feedbacks(self) -> Feedbacks:
        return Feedbacks(self.sessions)

    @cached_property
    def profiles(self) -> AppProfiles:
        """`/site` and `/meta` of apps."""
        return AppProfiles(self.sessions)

    @cached_property
    def node_services(self) -> NodeServices:
        """The side-effect ports nodes use (code sandbox, egress-guarded HTTP, read-only SQL, knowledge)."""
        from app.services.run_files import RunFileStore

        services = build_node_services(self.settings, self.egress)
        services.retriever = self.knowledge.retriever
        services.tools = self.tools
        services.files = RunFileStore(self.knowledge.files, services.http)
        return services

    @cached_property
    def tools(self) -> ToolRegistry:
        """The tool registry: built-ins plus each workspace's installed providers (the tool port of runs). The
        workflow-as-tool kind runs callee graphs with this container's LLM and node services, looked up lazily
        because those services hold this registry too."""
        from app.services.tools.graph_run import InlineGraphRun

        # Bound lazily: node services hold this registry, so the callee runner is built on the first call.
        callee_runs: dict[str, InlineGraphRun] = {}

        def run_graph(workspace_id: str, graph: Any, inputs: dict[str, Any]) -> Any:
            if "run" not in callee_runs:
                callee_runs["run"] = InlineGraphRun(self.llm, self.node_services, self.limits,
                                                    self.settings.tool_timeout_seconds)
            return callee_runs["run"](workspace_id, graph, inputs)

        extras = {"plugin_host": self.plugin_host, "run_graph": run_graph,
                  "load_published_graph": lambda workspace_id, app_id: self.apps.published(workspace_id,
                                                                                          app_id).graph,
                  "max_call_depth": self.settings.max_call_depth}
        return build_tools(self.settings, self.sessions, lambda: self.knowledge.files, extras, self.egress)

    @cached_property
    def egress(self) -> Any:
        """One egress-guarded HTTP client per process, shared by nodes, tools and the plugins' proxy: one
        connection pool, one policy."""
        return build_egress(self.settings)

    @cached_property
    def plugin_host(self) -> Any:
        """One PluginHost per process: plugin children and their egress proxy, stopped by `close`. Plugins are
        enabled when PLUGIN_PYTHON names a Python 3.12+ (the dify-plugin SDK's floor)."""
        from app.tools.plugin import PluginHost
        from app.tools.plugin_process import PluginLimits

        home = self.settings.ensure_home() / "plugins"
        runtimes = self.settings.plugin_runtimes_dir or home / "runtimes"
        return PluginHost(self.egress.backend, self.settings.plugin_python or None,
                          home / "packages", runtimes, PluginLimits(memory_mb=self.settings.plugin_memory_mb))

    @cached_property
    def tool_admin(self) -> ToolAdmin:
        from app.services.tools.admin import ToolAdmin

        return ToolAdmin(self.tools.store, self.tools)  # type: ignore[arg-type]

    @cached_property
    def triggers(self) -> Triggers:
        """Schedules and webhooks that start runs (app/services/triggers.py)."""
        from app.services.triggers import Triggers

        return Triggers(self.sessions, self.apps, self.runs)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        """Datasets, documents, segments, uploads, indexing and retrieval on the configured stores."""
        return build_knowledge(self.settings, self.engine, self.sessions, self.queue.enqueue_index,
                               self.ops.recorder if self.ops else None)

    @property
    def limits(self) -> Limits:
        return Limits(max_steps=self.settings.max_steps, max_seconds=self.settings.max_execution_seconds,
                      max_call_depth=self.settings.max_call_depth,
                      max_variable_bytes=self.settings.max_variable_bytes,
                      max_loop_count=self.settings.max_loop_count)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        if "plugin_host" in self.__dict__:
            self.plugin_host.close()
        if self.ops:
            self.ops.close()
        self.tracing.close()
        self.events.close()
        self.engine.dispose()


def _no_runtime() -> WorkerRuntime:
    raise RuntimeError("tasks execute only in the worker process")


def build_llm(settings: Settings, environ: Mapping[str, str] | None = None) -> LLMGateway:
    """The default endpoint plus one gateway per routed provider (LLM_PROVIDERS_FILE). Provider keys are named
    in that file and read from `environ` (the process environment by default) here, at build time."""
    default: LLMGateway
    if not settings.openai_api_key and not settings.openai_base_url:
        default = UnconfiguredLLM()
    else:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        default = build_openai_gateway(settings.openai_base_url, key, settings.llm_timeout_seconds)
    if not settings.llm_providers_file:
        return default if isinstance(default, UnconfiguredLLM) else LLMRouter(default=default)
    from app.providers.llm_routes import load_routes

    routes = load_routes(settings.llm_providers_file, os.environ if environ is None else environ)
    gateways = {r.name: build_openai_gateway(r.base_url, r.api_key, settings.llm_timeout_seconds)
                for r in routes if r.base_url}
    return LLMRouter(default=default, routes=gateways, aliases={r.name: r.models for r in routes if r.models})


def build_egress(settings: Settings) -> Any:
    """The egress-guarded HTTP client (EGRESS_ALLOW and the HTTP_MAX_* limits)."""
    from app.providers.egress import EgressClient, EgressLimits, EgressPolicy

    return EgressClient(EgressPolicy.parse(settings.egress_allow), EgressLimits(
        max_connect_seconds=settings.http_max_connect_seconds, max_read_seconds=settings.http_max_read_seconds,
        max_write_seconds=settings.http_max_write_seconds, max_text_bytes=settings.http_max_text_bytes,
        max_file_bytes=settings.http_max_file_bytes))


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or the key generated once into TRELLIS_HOME/secret_key (mode 0600). The file appears whole
    (written aside, then hard-linked into place, which fails if another process won the race), so processes
    starting together agree on one key and never read a half-written file."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value()
    path = settings.ensure_home() / "secret_key"
    if not path.exists():
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def build_tools(settings: Settings, sessions: sessionmaker[Session], files: Callable[[], Any],
                extras: dict[str, Any] | None = None, http: Any = None) -> ToolRegistry:
    """The tool registry over the tool_providers table, credentials sealed with SECRET_KEY; tools reach the
    network through the egress-guarded client (`http`, or one built from settings) and files through the upload
    store."""
    from app.providers.secret_box import SecretBox
    from app.services.tools.files import ToolFileStore
    from app.services.tools.store import ToolProviderStore
    from app.tools.provider import ProviderContext
    from app.tools.registry import ToolRegistry

    http = http or build_egress(settings)
    context = ProviderContext(http=http, timeout_seconds=settings.tool_timeout_seconds,
                              files=ToolFileStore(files, http, settings.tool_timeout_seconds),
                              endpoints=dict(settings.tool_endpoints), extras=dict(extras or {}))
    return ToolRegistry(context, ToolProviderStore(sessions, lambda: SecretBox(secret_key(settings))))


def build_node_services(settings: Settings, http: Any = None) -> NodeServices:
    """The code sandbox, the egress-guarded HTTP client (`http`, or one built from settings) and the SQL runner,
    from settings (docs/security.md)."""
    from app.providers.sandbox import ProcessSandbox, SandboxLimits
    from app.providers.sql import SqlRunner

    http = http or build_egress(settings)
    sandbox = ProcessSandbox(SandboxLimits(
        wall_seconds=settings.sandbox_wall_seconds, cpu_seconds=settings.sandbox_cpu_seconds,
        memory_mb=settings.sandbox_memory_mb, output_bytes=settings.sandbox_output_bytes), http=http)
    connections = {name: url.get_secret_value() for name, url in settings.sql_connections.items()}
    sql = SqlRunner(connections, settings.sql_timeout_seconds, settings.sql_max_rows) if connections else None
    return NodeServices(http=http, sandbox=sandbox, sql=sql)


def build_embeddings(settings: Settings) -> Embeddings:
    """EMBEDDING_MODEL empty: the offline hashing embedder; else the OpenAI-compatible endpoint at
    EMBEDDING_BASE_URL/EMBEDDING_API_KEY, defaulting to OPENAI_BASE_URL/OPENAI_API_KEY."""
    from app.providers.embeddings import Embeddings, build_openai_client

    base_url = settings.embedding_base_url or settings.openai_base_url
    secret = settings.embedding_api_key or settings.openai_api_key
    key = secret.get_secret_value() if secret else None
    factory = (lambda: build_openai_client(base_url, key, settings.llm_timeout_seconds)) if (base_url or key) else None
    return Embeddings(settings.embedding_model, factory, settings.embedding_batch_size)


def build_vectors(settings: Settings, engine: Engine) -> VectorStore:
    """VECTOR_STORE: `embedded` (SQLite file under TRELLIS_HOME), `pgvector` (the application database) or
    `pinecone` (PINECONE_API_KEY + PINECONE_INDEX_HOST, a namespace per dataset)."""
    from app.settings import VectorStoreKind

    if settings.vector_store == VectorStoreKind.pgvector:
        from app.providers.vectors.pgvector import PgVectorStore

        return PgVectorStore(engine)
    if settings.vector_store == VectorStoreKind.pinecone:
        from app.providers.vectors.pinecone import PineconeVectorStore, build_pinecone_index

        if not settings.pinecone_api_key or not settings.pinecone_index_host:
            raise RuntimeError("VECTOR_STORE=pinecone needs PINECONE_API_KEY and PINECONE_INDEX_HOST")
        return PineconeVectorStore(build_pinecone_index(settings.pinecone_api_key.get_secret_value(),
                                                        settings.pinecone_index_host))
    from app.providers.vectors.embedded import EmbeddedVectorStore

    return EmbeddedVectorStore(settings.ensure_home() / "vectors.sqlite3")


def build_objects(settings: Settings) -> ObjectStore:
    """OBJECT_STORE_URL: `s3://bucket/prefix` (boto3) or a folder; unset means TRELLIS_HOME/objects."""
    from app.providers.objects import object_store_from_url

    return object_store_from_url(settings.object_store_url, settings.trellis_home)


def build_knowledge(settings: Settings, engine: Engine, sessions: sessionmaker[Session],
                    enqueue: Callable[[str], None], recorder: UsageRecorder | None = None) -> KnowledgeBase:
    from app.services.knowledge_base import build_knowledge_base

    return build_knowledge_base(engine, sessions, build_objects(settings), build_vectors(settings, engine),
                                build_embeddings(settings), enqueue, settings.upload_max_bytes,
                                settings.lease_seconds, recorder)


def build_auth_failures(settings: Settings, redis_client: Any) -> AuthFailures:
    """AUTH_FAILURES_PER_MINUTE per client IP: counted in Redis when there is one, else in process memory."""
    if settings.auth_failures_per_minute <= 0:
        return NoAuthLimit()
    if redis_client is not None:
        return RedisAuthFailures(redis_client, settings.auth_failures_per_minute)
    return MemoryAuthFailures(settings.auth_failures_per_minute)


def build(settings: Settings, runtime: Callable[[], WorkerRuntime] = _no_runtime) -> Container:
    """Construct every backend from settings. Opens no connection until first use."""
    from worker import create_huey, register_tasks
    from worker.queue import HueyTaskQueue

    engine = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow, pre_ping=settings.db_pre_ping)
    sessions = make_session_factory(engine)
    redis_client = None
    events: EventLog
    if settings.redis_url:
        import redis

        from app.providers.events.redis_stream import RedisStreamEventLog

        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                            health_check_interval=30)
        events = RedisStreamEventLog(redis_client)
    else:
        from app.providers.events.sql_table import SqlEventLog

        events = SqlEventLog(sessions)
    huey = create_huey(settings)
    queue = HueyTaskQueue(huey, register_tasks(huey, runtime))
    apps = Apps(sessions, settings.cache_seconds)
    bootstrap = settings.admin_token.get_secret_value() if settings.admin_token else None
    operator = settings.operator_token.get_secret_value() if settings.operator_token else None
    admission = Admission(settings.max_active_runs_per_app, settings.idempotency_ttl_seconds)
    limiter: RateLimiter = Unlimited()
    if settings.rate_limit_per_second > 0:
        limiter = (RedisRateLimiter(redis_client, settings.rate_limit_per_second, settings.rate_limit_burst)
                   if redis_client is not None else
                   MemoryRateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst))
    container = Container(settings=settings, engine=engine, sessions=sessions, events=events,
                          llm=build_llm(settings), huey=huey, queue=queue, apps=apps,
                          accounts=Accounts(sessions, bootstrap, settings.cache_seconds, operator),
                          runs=Runs(sessions, apps, events, queue, admission), redis=redis_client,
                          rate_limiter=limiter, auth_failures=build_auth_failures(settings, redis_client),
                          ops=build_operations(settings, sessions, huey, queue, events),
                          tracing=tracing_from(settings))
    apps.tools = container.tools  # imports report the tools a workspace lacks
    return container
