"""The table of installed tool providers, as the registry's `ProviderStore`: rows scoped by workspace,
credentials sealed with the deployment's SecretBox and opened only for the call that needs them.

Nothing here logs or returns a credential value; views carry only the names of the credentials that are set."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import Conflict, InvalidParam, NotFound, ToolCredentialsMissing
from app.models import ToolProviderRecord
from app.models.base import as_utc, new_id
from app.providers.secret_box import SecretBox, SecretBoxError
from app.tools.installation import Installation

MAX_CREDENTIAL_CHARS = 8192


def _view(row: ToolProviderRecord) -> Installation:
    names = tuple(n for n in (row.credential_names or "").split(",") if n)
    updated = as_utc(row.updated_at)
    version = updated.isoformat() if updated else ""
    return Installation(id=row.id, workspace_id=row.workspace_id, provider_type=row.provider_type,
                        provider_id=row.provider_id, name=row.name, config=dict(row.config or {}),
                        credential_names=names, version=version)


def clean_credentials(values: Any) -> dict[str, str]:
    """Credential values as strings; InvalidParam for anything but an object of short scalar values."""
    if not isinstance(values, Mapping):
        raise InvalidParam("credentials must be an object of name -> value", params="credentials")
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or isinstance(value, dict | list) or value is None:
            raise InvalidParam(f"credential {key!r} must be a non-empty name with a text value",
                               params="credentials")
        if len(str(value)) > MAX_CREDENTIAL_CHARS:
            raise InvalidParam(f"credential {key!r} is longer than {MAX_CREDENTIAL_CHARS} characters",
                               params="credentials")
        cleaned[key] = str(value)
    return cleaned


class ToolProviderStore:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox | Callable[[], SecretBox]) -> None:
        self._sessions = sessions
        # A factory is called on first use of credentials, so a process that never touches them never reads
        # (or generates) the key.
        self._box_source = box

    @cached_property
    def _box(self) -> SecretBox:
        source = self._box_source
        return source if isinstance(source, SecretBox) else source()

    # The registry's ProviderStore protocol.
    def find(self, workspace_id: str, provider_type: str, provider_id: str, name: str = "") -> Installation | None:
        with self._sessions() as session:
            scope = select(ToolProviderRecord).where(ToolProviderRecord.workspace_id == workspace_id,
                                                     ToolProviderRecord.provider_type == provider_type)
            row = session.scalars(scope.where(ToolProviderRecord.provider_id == provider_id)).first()
            if row is None and name:
                row = session.scalars(scope.where(ToolProviderRecord.name == name)
                                      .order_by(ToolProviderRecord.created_at)).first()
            return _view(row) if row is not None else None

    def installed(self, workspace_id: str) -> list[Installation]:
        with self._sessions() as session:
            rows = session.scalars(select(ToolProviderRecord).where(ToolProviderRecord.workspace_id == workspace_id)
                                   .order_by(ToolProviderRecord.created_at))
            return [_view(r) for r in rows]

    def credentials(self, workspace_id: str, provider_type: str, provider_id: str) -> dict[str, str]:
        with self._sessions() as session:
            token = session.scalar(select(ToolProviderRecord.credentials).where(
                ToolProviderRecord.workspace_id == workspace_id, ToolProviderRecord.provider_type == provider_type,
                ToolProviderRecord.provider_id == provider_id))
        if not token:
            return {}
        try:
            return self._box.open(token)
        except SecretBoxError as exc:
            raise ToolCredentialsMissing(f"credentials of {provider_type} provider {provider_id!r} cannot be "
                                         "read with this deployment's SECRET_KEY; set them again") from exc

    # Writes, for the management use-cases.
    def get(self, workspace_id: str, record_id: str) -> Installation:
        with self._sessions() as session:
            return _view(self._row(session, workspace_id, record_id))

    @staticmethod
    def _row(session: Session, workspace_id: str, record_id: str) -> ToolProviderRecord:
        row = session.get(ToolProviderRecord, record_id)
        if row is None or row.workspace_id != workspace_id or row.provider_type == "builtin":
            raise NotFound("Tool provider not found")
        return row

    def add(self, workspace_id: str, provider_type: str, provider_id: str | None, name: str,
            config: Mapping[str, Any], credentials: Mapping[str, str]) -> Installation:
        provider_id = provider_id or new_id()
        if self.find(workspace_id, provider_type, provider_id) is not None:
            raise Conflict(f"a {provider_type} tool provider with id {provider_id!r} is already installed")
        row = ToolProviderRecord(workspace_id=workspace_id, provider_type=provider_type, provider_id=provider_id,
                                 name=name or provider_id, config=dict(config))
        self._seal(row, dict(credentials))
        with transaction(self._sessions) as session:
            session.add(row)
            session.flush()
            return _view(row)

    def change(self, workspace_id: str, record_id: str, name: str | None, config: Mapping[str, Any] | None,
               credentials: Mapping[str, str] | None) -> Installation:
        """Update what is given; `credentials` replaces the whole set when given."""
        with transaction(self._sessions) as session:
            row = self._row(session, workspace_id, record_id)
            if name:
                row.name = name
            if config is not None:
                row.config = dict(config)
            if credentials is not None:
                self._seal(row, dict(credentials))
            session.flush()
            return _view(row)

    def remove(self, workspace_id: str, record_id: str) -> None:
        with transaction(self._sessions) as session:
            session.delete(self._row(session, workspace_id, record_id))

    def package_in_use(self, package_dir: str) -> bool:
        """Whether any installed plugin provider, in any workspace, still runs from `package_dir`."""
        with self._sessions() as session:
            configs = session.scalars(select(ToolProviderRecord.config)
                                      .where(ToolProviderRecord.provider_type == "plugin"))
            return any((config or {}).get("package_dir") == package_dir for config in configs)

    def put_builtin_credentials(self, workspace_id: str, provider_id: str, credentials: Mapping[str, str]) -> None:
        """Set (replace) the credentials of a built-in; the row is created on first use."""
        with transaction(self._sessions) as session:
            row = session.scalars(select(ToolProviderRecord).where(
                ToolProviderRecord.workspace_id == workspace_id, ToolProviderRecord.provider_type == "builtin",
                ToolProviderRecord.provider_id == provider_id)).first()
            if row is None:
                row = ToolProviderRecord(workspace_id=workspace_id, provider_type="builtin", provider_id=provider_id,
                                         name=provider_id, config={})
                session.add(row)
            self._seal(row, dict(credentials))

    def delete_builtin_credentials(self, workspace_id: str, provider_id: str) -> None:
        with transaction(self._sessions) as session:
            row = session.scalars(select(ToolProviderRecord).where(
                ToolProviderRecord.workspace_id == workspace_id, ToolProviderRecord.provider_type == "builtin",
                ToolProviderRecord.provider_id == provider_id)).first()
            if row is not None:
                session.delete(row)

    def _seal(self, row: ToolProviderRecord, credentials: dict[str, str]) -> None:
        row.credentials = self._box.seal(credentials) if credentials else None
        row.credential_names = ",".join(sorted(credentials))
