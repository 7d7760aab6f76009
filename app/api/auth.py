"""Bearer-token authentication for the Service API (`app-` keys) and the management API (admin tokens)."""

from __future__ import annotations

from flask import request

from app.api import container
from app.errors import Unauthorized
from app.services.accounts import AdminPrincipal, AppPrincipal


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
    return token.strip()


def app_principal() -> AppPrincipal:
    return container().accounts.authenticate_app_key(bearer_token())


def admin_principal() -> AdminPrincipal:
    return container().accounts.authenticate_admin(bearer_token())
