"""The price table: what one LLM or embedding call costs, from prompt and completion prices per 1M tokens.

Configured by the PRICING setting, inline JSON/YAML or the path of a `.json`/`.yml`/`.yaml` file:

    currency: USD
    models:
      openai/gpt-4o-mini: {prompt: 0.15, completion: 0.60}
      gpt-3.5-turbo: {prompt: 0.5, completion: 1.5}     # this model name from any provider
      ollama/*: {prompt: 0, completion: 0}              # every model of a provider
      "*": {prompt: 1, completion: 2}                   # anything else

Amounts are exact: prices are Decimals and costs are integers of 1e-9 currency units ("nanos"), so sums in the
database never drift. A model with no entry costs 0 and `priced()` says so. Pure: no I/O after construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from app.errors import InvalidParam

NANOS = Decimal(10) ** 9
# Dify reports prices with seven decimals.
DISPLAY = Decimal("0.0000001")


def provider_key(provider: str) -> str:
    """`langgenius/openai/openai` -> `openai`; bare names pass through, lower-cased."""
    return provider.rstrip("/").rsplit("/", 1)[-1].strip().lower()


@dataclass(frozen=True)
class Price:
    """Prices per 1M tokens."""

    prompt: Decimal
    completion: Decimal


def to_display(nanos: int) -> str:
    """Nanos as Dify's decimal string (`"0.0001230"`)."""
    return format((Decimal(nanos) / NANOS).quantize(DISPLAY), "f")


@dataclass(frozen=True)
class PriceTable:
    currency: str = "USD"
    prices: dict[str, Price] = field(default_factory=dict)

    def lookup(self, provider: str, model: str) -> Price | None:
        key = provider_key(provider) if provider else ""
        for candidate in (f"{key}/{model}", model, f"{key}/*", "*"):
            if candidate in self.prices:
                return self.prices[candidate]
        return None

    def priced(self, provider: str, model: str) -> bool:
        return self.lookup(provider, model) is not None

    def cost_nanos(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int = 0) -> int:
        """The cost of one call in nanos (0 for an unknown model). Embeddings pass only prompt tokens."""
        price = self.lookup(provider, model)
        if price is None:
            return 0
        # tokens * price-per-1M / 1e6 currency units = tokens * price * 1000 nanos
        exact = (price.prompt * prompt_tokens + price.completion * completion_tokens) * 1000
        return int(exact.to_integral_value())

    @classmethod
    def parse(cls, setting: str | None) -> PriceTable:
        """Build from the PRICING setting (inline text or a file path). Raises InvalidParam on a bad table,
        so a misconfigured deployment fails at start rather than pricing everything at 0."""
        if not setting or not setting.strip():
            return cls()
        text = setting
        if setting.strip().endswith((".json", ".yml", ".yaml")) and "\n" not in setting:
            text = Path(setting.strip()).read_text(encoding="utf-8")
        try:
            raw = yaml.safe_load(text)  # JSON is YAML
        except yaml.YAMLError as exc:
            raise InvalidParam("PRICING is neither JSON nor YAML") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> PriceTable:
        if not isinstance(raw, dict) or not isinstance(raw.get("models", {}), dict):
            raise InvalidParam("PRICING must be a mapping with `currency` and `models`")
        prices = {}
        for name, entry in (raw.get("models") or {}).items():
            if not isinstance(entry, dict):
                raise InvalidParam(f"PRICING entry {name!r} must be {{prompt, completion}}")
            try:
                prices[str(name)] = Price(Decimal(str(entry.get("prompt", 0))),
                                          Decimal(str(entry.get("completion", 0))))
            except InvalidOperation as exc:
                raise InvalidParam(f"PRICING entry {name!r} has a non-numeric price") from exc
        return cls(currency=str(raw.get("currency") or "USD"), prices=prices)
