"""Workspaces, admin tokens and Service API keys: creation, authentication, revocation.

Two kinds of management credential: a workspace admin token (acts on its own workspace only) and the deployment
operator token (OPERATOR_TOKEN, or ADMIN_TOKEN when no operator token is set), which also may act on what every
workspace shares: the queues, the worker list, creating workspaces. The operator token is an admin token of the
default workspace too."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import NotFound, Unauthorized
from app.models import AdminToken, ApiKey, App, Workspace
from app.models.base import as_utc, utcnow
from app.services import tokens
from app.services.read_cache import ReadCache

DEFAULT_WORKSPACE = "Default workspace"


@dataclass(frozen=True)
class AdminPrincipal:
    workspace_id: str
    token_id: str
    operator: bool = False


@dataclass(frozen=True)
class AppPrincipal:
    workspace_id: str
    app_id: str
    key_id: str


@dataclass(frozen=True)
class KeyInfo:
    id: str
    prefix: str
    created_at: datetime | None
    last_used_at: datetime | None


class Accounts:
    def __init__(self, sessions: sessionmaker[Session], bootstrap_admin_token: str | None = None,
                 key_cache_seconds: float = 0.0, operator_token: str | None = None) -> None:
        self._sessions = sessions
        # Resolved `app-` keys by digest, for `key_cache_seconds`: the lookup was a fifth of the API's CPU on
        # short runs (issue 9). A key revoked here is dropped at once; other processes notice within the TTL.
        self._keys: ReadCache[str, AppPrincipal] = ReadCache(key_cache_seconds)
        # ADMIN_TOKEN from the environment: registered on first use, so no process writes at start-up
        # (the schema may not exist yet when a CLI command imports the app).
        self._bootstrap = bootstrap_admin_token
        # Without a separate OPERATOR_TOKEN the deployer's ADMIN_TOKEN is the operator (a one-tenant install).
        self._operator = operator_token or bootstrap_admin_token

    def default_workspace_id(self) -> str:
        """The first workspace, created on first use. Idempotent."""
        with transaction(self._sessions) as session:
            found = session.scalars(select(Workspace.id).order_by(Workspace.created_at).limit(1)).first()
            if found:
                return found
            workspace = Workspace(name=DEFAULT_WORKSPACE)
            session.add(workspace)
            session.flush()
            return workspace.id

    def ensure_admin_token(self, token: str, name: str = "admin") -> AdminPrincipal:
        """Make `token` an admin token of the default workspace (no-op if it already is)."""
        workspace_id = self.default_workspace_id()
        with transaction(self._sessions) as session:
            row = session.scalars(select(AdminToken).where(AdminToken.token_hash == tokens.digest(token))).first()
            if row is None:
                row = AdminToken(workspace_id=workspace_id, token_hash=tokens.digest(token),
                                 prefix=tokens.display_prefix(token), name=name)
                session.add(row)
                session.flush()
            elif row.revoked_at is not None:
                row.revoked_at = None
            return AdminPrincipal(workspace_id=row.workspace_id, token_id=row.id)

    def is_operator(self, token: str) -> bool:
        """Whether `token` is the deployment operator's (constant-time comparison)."""
        return bool(self._operator) and hmac.compare_digest(token.encode(), str(self._operator).encode())

    def authenticate_admin(self, token: str) -> AdminPrincipal:
        """The workspace (and operator flag) of an admin token. Raises Unauthorized."""
        operator = self.is_operator(token)
        with transaction(self._sessions) as session:
            row = session.scalars(select(AdminToken).where(AdminToken.token_hash == tokens.digest(token),
                                                           AdminToken.revoked_at.is_(None))).first()
            if row is not None:
                return AdminPrincipal(workspace_id=row.workspace_id, token_id=row.id, operator=operator)
        bootstrap = self._bootstrap and hmac.compare_digest(token.encode(), self._bootstrap.encode())
        if bootstrap or operator:
            found = self.ensure_admin_token(token, name="operator" if operator else "admin")
            return AdminPrincipal(found.workspace_id, found.token_id, operator=operator)
        raise Unauthorized("Admin token is invalid")

    def create_workspace(self, name: str) -> tuple[str, str, str]:
        """A new workspace with its first admin token; returns (workspace id, token id, token). The token is
        shown once. Not idempotent: two calls make two workspaces."""
        token = tokens.generate("adm-")
        with transaction(self._sessions) as session:
            workspace = Workspace(name=name)
            session.add(workspace)
            session.flush()
            row = AdminToken(workspace_id=workspace.id, token_hash=tokens.digest(token),
                             prefix=tokens.display_prefix(token), name="admin")
            session.add(row)
            session.flush()
            return workspace.id, row.id, token

    def create_app_key(self, workspace_id: str, app_id: str) -> tuple[str, str]:
        """A new `app-` key for an app of this workspace; returns (key id, token). The token is shown once."""
        token = tokens.generate("app-")
        with transaction(self._sessions) as session:
            owned = select(App.id).where(App.id == app_id, App.workspace_id == workspace_id)
            if session.scalars(owned).first() is None:
                raise NotFound("App not found")
            key = ApiKey(workspace_id=workspace_id, app_id=app_id, kind="app", token_hash=tokens.digest(token),
                         prefix=tokens.display_prefix(token))
            session.add(key)
            session.flush()
            return key.id, token

    def list_app_keys(self, workspace_id: str, app_id: str) -> list[KeyInfo]:
        """The live keys of an app of this workspace (NotFound for another workspace's app, as elsewhere)."""
        with self._sessions() as session:
            owned = select(App.id).where(App.id == app_id, App.workspace_id == workspace_id)
            if session.scalars(owned).first() is None:
                raise NotFound("App not found")
            rows = session.scalars(select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.app_id == app_id,
                                                        ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at))
            return [KeyInfo(r.id, r.prefix, as_utc(r.created_at), as_utc(r.last_used_at)) for r in rows]

    def revoke_app_key(self, workspace_id: str, app_id: str, key_id: str) -> None:
        with transaction(self._sessions) as session:
            result = session.execute(update(ApiKey).where(
                ApiKey.id == key_id, ApiKey.app_id == app_id, ApiKey.workspace_id == workspace_id,
                ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow()))
            if result.rowcount == 0:
                raise NotFound("API key not found")
        self._keys.clear()  # rare; cheaper to refill than to index the cache by key id

    def authenticate_app_key(self, token: str) -> AppPrincipal:
        """Resolve an `app-` key. Raises Unauthorized for unknown, revoked or dataset keys."""
        digest = tokens.digest(token)
        return self._keys.get_or_load(digest, lambda: self._lookup_app_key(digest))

    def _lookup_app_key(self, digest: str) -> AppPrincipal:
        with transaction(self._sessions) as session:
            key = session.scalars(select(ApiKey).where(ApiKey.token_hash == digest,
                                                       ApiKey.revoked_at.is_(None), ApiKey.kind == "app")).first()
            if key is None or key.app_id is None:
                raise Unauthorized("Access token is invalid")
            # Touch last_used_at at most once a minute: a write per request would serialize hot keys.
            now = utcnow()
            last = as_utc(key.last_used_at)
            if last is None or (now - last).total_seconds() > 60:
                key.last_used_at = now
            return AppPrincipal(workspace_id=key.workspace_id, app_id=key.app_id, key_id=key.id)
