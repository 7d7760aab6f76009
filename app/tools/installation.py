"""What the registry needs to know about the providers a workspace installed, and the protocol of the store that
keeps them (a table with encrypted credentials, implemented in `app.services.tool_providers`; a dict in tests).

Credentials never travel inside an `Installation`: the registry asks the store for them right before a call and
hands them to the provider only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Installation:
    """One installed provider: its kind (`api`, `mcp`, `workflow`, `plugin`; `builtin` rows only hold a built-in's
    credentials), the id tool nodes name it by, a display name, its kind-specific configuration and the names of
    the credentials that are set. `version` changes on every update, so cached providers are rebuilt."""

    id: str
    workspace_id: str
    provider_type: str
    provider_id: str
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    credential_names: tuple[str, ...] = ()
    version: str = ""


class ProviderStore(Protocol):
    def find(self, workspace_id: str, provider_type: str, provider_id: str, name: str = "") -> Installation | None:
        """The installation of that type with that provider id or, failing that, that display name."""
        ...

    def installed(self, workspace_id: str) -> list[Installation]:
        """Every installation of the workspace, built-in credential rows included."""
        ...

    def credentials(self, workspace_id: str, provider_type: str, provider_id: str) -> dict[str, str]:
        """The decrypted credentials of one installation (empty when none are set)."""
        ...


class NoStore:
    """No installed providers (engine tests, or a deployment without the tools table)."""

    def find(self, workspace_id: str, provider_type: str, provider_id: str, name: str = "") -> Installation | None:
        return None

    def installed(self, workspace_id: str) -> list[Installation]:
        return []

    def credentials(self, workspace_id: str, provider_type: str, provider_id: str) -> dict[str, str]:
        return {}
