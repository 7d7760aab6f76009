"""An in-memory ProviderStore for registry tests (the SQL one is tested in tests/app/services/tools)."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.tools.installation import Installation


class MemoryStore:
    def __init__(self) -> None:
        self.items: list[Installation] = []
        self.secrets: dict[tuple[str, str, str], dict[str, str]] = {}

    def add(self, workspace_id: str, provider_type: str, provider_id: str, name: str = "",
            config: dict[str, Any] | None = None, credentials: dict[str, str] | None = None) -> Installation:
        item = Installation(id=f"i{len(self.items)}", workspace_id=workspace_id, provider_type=provider_type,
                            provider_id=provider_id, name=name or provider_id, config=config or {},
                            credential_names=tuple(credentials or {}), version="1")
        self.items.append(item)
        self.secrets[(workspace_id, provider_type, provider_id)] = dict(credentials or {})
        return item

    def bump(self, item: Installation, **changes: Any) -> Installation:
        updated = dataclasses.replace(item, version=item.version + "+", **changes)
        self.items[self.items.index(item)] = updated
        return updated

    def find(self, workspace_id: str, provider_type: str, provider_id: str, name: str = "") -> Installation | None:
        scoped = [i for i in self.items if i.workspace_id == workspace_id and i.provider_type == provider_type]
        return next((i for i in scoped if i.provider_id == provider_id), None) or next(
            (i for i in scoped if name and i.name == name), None)

    def installed(self, workspace_id: str) -> list[Installation]:
        return [i for i in self.items if i.workspace_id == workspace_id]

    def credentials(self, workspace_id: str, provider_type: str, provider_id: str) -> dict[str, str]:
        return dict(self.secrets.get((workspace_id, provider_type, provider_id), {}))
