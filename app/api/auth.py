"""Bearer-token authentication for the Service API (`app-` keys) and the management API (admin tokens), and
the guard against guessing them: a client (IP) with AUTH_FAILURES_PER_MINUTE rejected tokens is refused with
429 and Retry-After until its window ends, before any token it sends is looked at."""

from __future__ import annotations

import math

from flask import Flask, Response, g, request

from app.api import container
from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.providers.auth_failures import retry_after
from app.services.accounts import AdminPrincipal, AppPrincipal


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
    refuse_blocked_client()
    g.auth_token_presented = True  # a 401 from here on is a rejected token: counted by the guard below
    return token.strip()


def client_ip() -> str:
    """The client's address: the TCP peer, or with TRUSTED_PROXY_HOPS = n the n-th X-Forwarded-For entry from
    the right (the one the outermost trusted proxy saw); entries further left are client-controlled."""
    hops = container().settings.trusted_proxy_hops
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if hops > 0 and forwarded:
        return forwarded[-min(hops, len(forwarded))]
    return request.remote_addr or "unknown"


def refuse_blocked_client() -> None:
    """Raise TooManyRequests (429, Retry-After) while this client is blocked for failed authentications."""
    wait = container().auth_failures.blocked_for(client_ip())
    if wait > 0:
        raise TooManyRequests("Too many failed authentication attempts; retry later",
                              retry_after=retry_after(wait))


def note_auth_failure() -> None:
    """Count this request as a failed authentication (for paths that answer without a 401, e.g. a login form)."""
    g.auth_failed = True


def register_auth_guard(app: Flask) -> None:
    @app.after_request
    def _count_failures(response: Response) -> Response:
        if g.get("auth_failed") or (response.status_code == 401 and g.get("auth_token_presented")):
            container().auth_failures.record(client_ip())
        return response


def app_key() -> AppPrincipal:
    """The app behind the request's `app-` key, looked up once per request (the budget gate and the view
    both need it). Raises Unauthorized."""
    who = g.get("app_key")
    if who is None:
        who = g.app_key = container().accounts.authenticate_app_key(bearer_token())
    return who


def app_principal() -> AppPrincipal:
    """The app behind the request's `app-` key, after its rate limit. Raises Unauthorized / TooManyRequests."""
    who = app_key()
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


def operator_principal() -> AdminPrincipal:
    """The deployment operator (OPERATOR_TOKEN): a workspace admin token is refused with 403, since what it would
    touch (the shared queues, the workers, other workspaces) is not its workspace's."""
    who = admin_principal()
    if not who.operator:
        raise Forbidden("This action affects the whole deployment and needs the operator token")
    return who
