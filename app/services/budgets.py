"""Monthly budgets per app: a token cap and/or a cost cap (in the price table's currency) over the calendar
month in UTC, measured on the `llm_calls` rows (what was actually spent, abandoned attempts included).

`check()` runs before a run is accepted: past a cap it raises QuotaExceeded (HTTP 429 `quota_exceeded`); it
also publishes the share used as `trellis_budget_used_ratio`, which the alert rules warn on at 0.8. An app
without a budget costs one primary-key lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam, NotFound, QuotaExceeded
from app.metrics import metrics
from app.models import App, AppBudget, LlmCall
from app.models.base import utcnow
from app.services.pricing import NANOS, to_display
from app.services.read_cache import ReadCache

WARN_RATIO = 0.8
UNSET: Any = object()


def month_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def next_month(now: datetime) -> datetime:
    return datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MonthUsage:
    tokens: int
    nanos: int


def parse_cost(value: Any) -> int | None:
    """A cost budget from the API (number or decimal string, in currency units) as nanos; None clears it."""
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidParam("monthly_cost_budget must be a number", params="monthly_cost_budget") from exc
    if amount < 0 or not amount.is_finite():
        raise InvalidParam("monthly_cost_budget must be >= 0", params="monthly_cost_budget")
    return int((amount * NANOS).to_integral_value())


class Budgets:
    def __init__(self, sessions: sessionmaker[Session], currency: str = "USD", cache_seconds: float = 5.0) -> None:
        self._sessions = sessions
        self._currency = currency
        # Each app's caps, per process, for a few seconds: read before every run. A change made here applies
        # at once, elsewhere within `cache_seconds`. (Spending itself is always read fresh.)
        self._caps: ReadCache[str, tuple[int | None, int | None]] = ReadCache(cache_seconds)

    def set(self, workspace_id: str, app_id: str, tokens: Any = UNSET, cost_nanos: Any = UNSET) -> dict[str, Any]:
        """Create or change an app's budget; arguments left UNSET keep their value, None removes the cap."""
        if tokens is not UNSET and tokens is not None and (not isinstance(tokens, int) or tokens < 0):
            raise InvalidParam("monthly_token_budget must be a non-negative integer", params="monthly_token_budget")
        with transaction(self._sessions) as session:
            owned = select(App.id).where(App.id == app_id, App.workspace_id == workspace_id)
            if session.scalars(owned).first() is None:
                raise NotFound("App not found")
            row = session.get(AppBudget, app_id)
            if row is None:
                row = AppBudget(app_id=app_id, workspace_id=workspace_id)
                session.add(row)
            if tokens is not UNSET:
                row.monthly_token_budget = tokens
            if cost_nanos is not UNSET:
                row.monthly_cost_budget_nanos = cost_nanos
            row.updated_at = utcnow()
        self._caps.forget(app_id)
        return self.view(app_id)

    def view(self, app_id: str) -> dict[str, Any]:
        """The budget and this month's usage of an app (caller checked ownership)."""
        with self._sessions() as session:
            row = session.get(AppBudget, app_id)
        used = self.month_usage(app_id)
        cost_cap = row.monthly_cost_budget_nanos if row else None
        return {"monthly_token_budget": row.monthly_token_budget if row else None,
                "monthly_cost_budget": to_display(cost_cap) if cost_cap is not None else None,
                "currency": self._currency, "month_tokens": used.tokens, "month_cost": to_display(used.nanos)}

    def month_usage(self, app_id: str, now: datetime | None = None) -> MonthUsage:
        start = month_start(now or utcnow())
        with self._sessions() as session:
            row = session.execute(select(func.coalesce(func.sum(LlmCall.total_tokens), 0),
                                         func.coalesce(func.sum(LlmCall.price_nanos), 0))
                                  .where(LlmCall.app_id == app_id, LlmCall.created_at >= start)).one()
        return MonthUsage(int(row[0]), int(row[1]))

    def check(self, app_id: str) -> None:
        """Raise QuotaExceeded when the app is at or past a cap; publish the share used."""
        token_cap, cost_cap = self._app_caps(app_id)
        if token_cap is None and cost_cap is None:
            return
        now = utcnow()
        used = self.month_usage(app_id, now)
        caps = (("tokens", token_cap, used.tokens), ("cost", cost_cap, used.nanos))
        for kind, cap, spent in caps:
            if cap is None:
                continue
            ratio = spent / cap if cap else 1.0
            metrics().budget_used_ratio.labels(app_id, kind).set(ratio)
            if spent >= cap:
                metrics().budget_exceeded.labels(app_id).inc()
                raise QuotaExceeded(self._message(kind, cap, spent, next_month(now)))

    def _app_caps(self, app_id: str) -> tuple[int | None, int | None]:
        return self._caps.get_or_load(app_id, lambda: self._read_caps(app_id))

    def _read_caps(self, app_id: str) -> tuple[int | None, int | None]:
        with self._sessions() as session:
            row = session.get(AppBudget, app_id)
        return (row.monthly_token_budget, row.monthly_cost_budget_nanos) if row else (None, None)

    def _message(self, kind: str, cap: int, spent: int, reset: datetime) -> str:
        when = reset.date().isoformat()
        if kind == "tokens":
            return (f"This app has used {spent:,} tokens of its monthly budget of {cap:,}; new runs are refused "
                    f"until {when} (UTC) or until an admin raises monthly_token_budget.")
        return (f"This app has spent {to_display(spent)} {self._currency} of its monthly budget of "
                f"{to_display(cap)} {self._currency}; new runs are refused until {when} (UTC) or until an admin "
                f"raises monthly_cost_budget.")
