"""Provider routing config: which OpenAI-compatible endpoint serves each Dify model provider.

A small YAML file (`LLM_PROVIDERS_FILE`) maps provider names, bare (`deepseek`) or plugin-qualified
(`langgenius/deepseek/deepseek`), to an endpoint and optional model aliases:

    providers:
      deepseek:
        base_url: https://<deepseek endpoint>/v1
        api_key_env: DEEPSEEK_API_KEY     # the key is read from this environment variable, never from the file
        models: {deepseek-chat: deepseek-chat}
      openai:
        models: {gpt-3.5-turbo: gpt-4o-mini}   # no base_url: the default endpoint, with aliases

An entry without `base_url` keeps the default endpoint (and its key); a provider without an entry uses the
default endpoint with the node's model name. Raises InvalidParam for a malformed file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import InvalidParam
from app.providers.llm import provider_key


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    api_key_env: str | None = None
    models: dict[str, str] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, _Entry] = Field(default_factory=dict)


@dataclass(frozen=True)
class ProviderRoute:
    name: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    models: Mapping[str, str]


def parse_routes(text: str, environ: Mapping[str, str]) -> list[ProviderRoute]:
    """Routes from YAML text; `environ` supplies the keys named by `api_key_env`."""
    try:
        raw = yaml.safe_load(text) or {}
        parsed = _File.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise InvalidParam(f"LLM provider config is invalid: {exc}") from exc
    routes = []
    for name, entry in parsed.providers.items():
        key = environ.get(entry.api_key_env) if entry.api_key_env else None
        routes.append(ProviderRoute(provider_key(name), entry.base_url, key, dict(entry.models)))
    return routes


def load_routes(path: Path, environ: Mapping[str, str]) -> list[ProviderRoute]:
    """Routes from the YAML file at `path`. Raises InvalidParam when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParam(f"LLM provider config {path} cannot be read: {exc.strerror}") from exc
    return parse_routes(text, environ)
