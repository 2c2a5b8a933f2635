"""The secrets the server hands out (device tokens, upload tokens, CSRF tokens) and how it keeps them."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh secret: 256 bits from `secrets`."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are long random secrets, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()
