"""Sealing small secrets at rest (tool credentials): Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`)
with a key derived by HKDF-SHA256 from the deployment's SECRET_KEY, so any SECRET_KEY string works and the
tool-credential key is separate from any other use of it. Imports nothing from the rest of `app`."""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBoxError(Exception):
    """A sealed value could not be opened (a different SECRET_KEY, or a damaged value)."""


class SecretBox:
    def __init__(self, secret_key: str, purpose: bytes = b"trellis tool credentials") -> None:
        if not secret_key:
            raise ValueError("SecretBox needs a non-empty secret key")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, values: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise SecretBoxError("stored credentials cannot be decrypted (was SECRET_KEY changed?)") from exc
        return {str(k): str(v) for k, v in data.items()}
