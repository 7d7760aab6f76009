"""``trellis:monitoring``: the settings of an environment's CloudWatch alarms, subscribers, budget and log retention.

Pure data with per-environment defaults (prod notifies, pages earlier, keeps logs 90 days; dev stays quiet). Read by
``StackConfig`` (validated with every other setting, so a bad value fails before anything is created), by the
Monitoring component (``infra/monitoring.py``) and by the log shipper of the addons layer (container log retention,
whichever shipper runs). No resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["AlarmThresholds", "EXAMPLE_DOMAINS", "MonitoringConfig", "RETENTION_DAYS", "monitoring_config"]

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)
# RFC 2606 names, reserved for examples: mail to them reaches nobody (the shipped prod file uses one as a placeholder).
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net", "example")


@dataclass(frozen=True)
class AlarmThresholds:
    """When an alarm fires. Counts are per ``period_seconds``; ``evaluation_periods`` in a row."""

    rds_free_storage_gib: float = 2.0
    rds_connections: int = 80
    cache_evictions: int = 100
    cache_memory_percent: float = 90.0
    lb5xx: int = 50
    lb_unhealthy_targets: int = 1
    lb_response_seconds: float = 30.0  # p95 target response time
    nodes_not_ready: int = 1
    period_seconds: int = 300
    evaluation_periods: int = 2

    def problems(self) -> list[str]:
        found = [f"monitoring.thresholds.{f.name} must be > 0" for f in fields(self) if getattr(self, f.name) <= 0]
        if self.cache_memory_percent > 100:
            found.append("monitoring.thresholds.cacheMemoryPercent must be <= 100")
        if self.period_seconds % 60:
            found.append("monitoring.thresholds.periodSeconds must be a multiple of 60")
        return found


# Prod pages earlier and on a single bad period; dev only ever shows the alarm state.
_PROD_THRESHOLDS = AlarmThresholds(rds_free_storage_gib=10.0, rds_connections=150, cache_evictions=1,
                                   cache_memory_percent=80.0, lb5xx=10, lb_response_seconds=10.0,
                                   period_seconds=60, evaluation_periods=3)


@dataclass(frozen=True)
class MonitoringConfig:
    """``trellis:monitoring`` of a stack (camelCase keys), over per-environment defaults."""

    alarms_notify: bool = False
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()  # HTTPS endpoints (a chat integration's webhook URL)
    monthly_budget_usd: float = 300.0
    log_retention_days: int = 7
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)

    def problems(self) -> list[str]:
        found = list(self.thresholds.problems())
        found += [f"monitoring.emails: {e!r} is not an address" for e in self.emails if "@" not in e]
        found += [f"monitoring.webhooks: {w!r} must be https://" for w in self.webhooks if not w.startswith("https://")]
        if self.monthly_budget_usd <= 0:
            found.append("monitoring.monthlyBudgetUsd must be > 0")
        if self.log_retention_days not in RETENTION_DAYS:
            found.append(f"monitoring.logRetentionDays must be one of {RETENTION_DAYS}")
        if self.alarms_notify and not (self.emails or self.webhooks):
            found.append("monitoring.alarmsNotify needs at least one email or webhook subscriber")
        return found

    def example_subscribers(self) -> list[str]:
        """Subscribers at a reserved example domain: placeholders that would leave every alert unread."""
        hosts = [(e, e.rsplit("@", 1)[-1].lower()) for e in self.emails]
        hosts += [(w, w.split("/")[2].split(":")[0].lower() if w.count("/") >= 2 else "") for w in self.webhooks]
        return [s for s, host in hosts if any(host == d or host.endswith(f".{d}") for d in EXAMPLE_DOMAINS)]


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def monitoring_config(environment: str, raw: Mapping[str, Any] | None) -> MonitoringConfig:
    """Defaults for ``environment`` (prod: notify, stricter thresholds, 2000 USD, 90-day logs) overridden by
    the stack's ``trellis:monitoring`` object. Unknown keys raise ``ValueError``; so do invalid values."""
    prod = environment == "prod"
    base = MonitoringConfig(alarms_notify=prod, monthly_budget_usd=2000.0 if prod else 300.0,
                            log_retention_days=90 if prod else 7,
                            thresholds=_PROD_THRESHOLDS if prod else AlarmThresholds())
    raw = dict(raw or {})
    limits = {_snake(k): v for k, v in (raw.pop("thresholds", None) or {}).items()}
    values = {_snake(k): v for k, v in raw.items()}
    known = {f.name for f in fields(MonitoringConfig)} - {"thresholds"}
    unknown = sorted(set(values) - known) + sorted(set(limits) - {f.name for f in fields(AlarmThresholds)})
    if unknown:
        raise ValueError(f"unknown monitoring settings: {', '.join(unknown)}")
    for key in ("emails", "webhooks"):
        if key in values:
            values[key] = tuple(values[key])
    cfg = replace(base, **values, thresholds=replace(base.thresholds, **limits))
    if cfg.problems():
        raise ValueError("; ".join(cfg.problems()))
    return cfg
