"""What an app shows about itself to Service API callers besides its parameters: Dify's `/site` (title, icon,
description and web-app settings, taken from the `app` section of the published DSL) and `/meta` (the icons of
the tool providers its workflow uses)."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import AppUnavailable, NotFound
from app.models import App, WorkflowVersion

# A tool provider has no icon of its own in an exported DSL; Dify's emoji form stands in.
DEFAULT_TOOL_ICON = {"background": "#E4FBCC", "content": "\U0001f527"}


def _app_section(dsl: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(dsl)
    except yaml.YAMLError:
        return {}
    section = raw.get("app") if isinstance(raw, dict) else None
    return section if isinstance(section, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class AppProfiles:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _published(self, workspace_id: str, app_id: str) -> tuple[App, WorkflowVersion]:
        with self._sessions() as session:
            app = session.scalars(select(App).where(App.id == app_id, App.workspace_id == workspace_id)).first()
            if app is None:
                raise NotFound("App not found")
            version = session.get(WorkflowVersion, app.published_version_id) if app.published_version_id else None
            if version is None:
                raise AppUnavailable()
            session.expunge_all()
            return app, version

    def site(self, workspace_id: str, app_id: str) -> dict[str, Any]:
        """Dify's `GET /site`. Raises NotFound / AppUnavailable."""
        app, version = self._published(workspace_id, app_id)
        section = _app_section(version.dsl)
        icon = _text(section.get("icon")) or app.icon or None
        icon_type = _text(section.get("icon_type")) or ("emoji" if icon else None)
        return {
            "title": app.name, "chat_color_theme": None, "chat_color_theme_inverted": False,
            "icon_type": icon_type, "icon": icon, "icon_background": _text(section.get("icon_background")),
            "icon_url": icon if icon_type == "image" else None, "description": app.description or None,
            "copyright": None, "privacy_policy": None, "custom_disclaimer": "", "default_language": "en-US",
            "show_workflow_steps": True,
            "use_icon_as_answer_icon": bool(section.get("use_icon_as_answer_icon", False)),
        }

    def meta(self, workspace_id: str, app_id: str) -> dict[str, Any]:
        """Dify's `GET /meta`: `{"tool_icons": {provider: icon}}` for every tool node of the published graph."""
        _, version = self._published(workspace_id, app_id)
        icons: dict[str, Any] = {}
        for node in (version.workflow.get("graph") or {}).get("nodes") or []:
            data = node.get("data") if isinstance(node, dict) else None
            if not isinstance(data, dict) or data.get("type") != "tool":
                continue
            provider = data.get("provider_id") or data.get("provider_name")
            if isinstance(provider, str) and provider:
                icon = data.get("provider_icon") or data.get("tool_icon")
                icons[provider] = icon if isinstance(icon, (str, dict)) and icon else DEFAULT_TOOL_ICON
        return {"tool_icons": icons}
