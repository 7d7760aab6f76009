"""Secret tokens: generation, hashing (only hashes are stored) and the short prefix shown in lists."""

from __future__ import annotations

import hashlib
import secrets


def generate(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def digest(token: str) -> str:
    """SHA-256 hex. Tokens are long random strings, so a fast hash is enough (no dictionary to guess from);
    lookups by digest make the comparison constant-time with respect to the secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[:8] + "…"
