"""Bearer-token authentication for the Service API (`app-` keys) and the management API (admin tokens)."""

from __future__ import annotations

import math

from flask import g, request

from app.api import container
from app.errors import TooManyRequests, Unauthorized
from app.services.accounts import AdminPrincipal, AppPrincipal


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
    return token.strip()


def app_principal() -> AppPrincipal:
    """The app behind the request's `app-` key, after its rate limit. Raises Unauthorized / TooManyRequests."""
    who = container().accounts.authenticate_app_key(bearer_token())
    wait = container().rate_limiter.acquire(who.key_id)
    if wait > 0:
        raise TooManyRequests(f"Rate limit exceeded for this API key; retry in {wait:.1f}s",
                              retry_after=max(1, math.ceil(wait)))
    g.principal = who  # for the audit record (app/api/observability.py)
    return who


def admin_principal() -> AdminPrincipal:
    who = container().accounts.authenticate_admin(bearer_token())
    g.principal = who  # for the audit record (app/api/observability.py)
    return who
