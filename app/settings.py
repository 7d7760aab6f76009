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
    redis_url: str | None = None
    object_store_url: str | None = None
    vector_store: VectorStoreKind = VectorStoreKind.embedded
    trellis_home: Path = Path("var")

    # LLM: the default OpenAI-compatible endpoint used by every provider without its own entry.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_timeout_seconds: float = 120.0

    # HTTP API.
    port: int = 5001
    admin_token: SecretStr | None = None
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
    max_execution_seconds: float = 1200.0
    max_steps: int = 500

    log_level: str = "INFO"

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
