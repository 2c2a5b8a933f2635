"""Password hashing: argon2id with OWASP's parameters, always off the event loop.

Accounts imported from v4 keep v4's hash (bcrypt, or werkzeug's pbkdf2/scrypt) until their
first sign-in, which checks it with v4's scheme and replaces it with argon2id (`needs_rehash`).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

from messenger.server.offload import offload

T = TypeVar("T")

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# Verified against when the user does not exist, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")
ARGON2_PREFIX = "$argon2id$"
V4_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
V4_WERKZEUG_PREFIXES = ("pbkdf2:", "scrypt:")
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; v4's library cut longer passwords there silently
# A hash takes a core and 19 MiB for tens of milliseconds: at most one per core at a time, so a
# login storm queues its logins (and its memory stays bounded) instead of ten hashing threads.
_hashing = threading.BoundedSemaphore(os.cpu_count() or 2)


def _bounded(fn: Callable[..., T], *args: Any) -> T:
    with _hashing:
        return offload(fn, *args)


def hash_password(password: str) -> str:
    return _bounded(_hasher.hash, password)


def _verify_v4(password_hash: str, password: str) -> bool:
    if password_hash.startswith(V4_BCRYPT_PREFIXES):
        return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], password_hash.encode())
    return check_password_hash(password_hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; a missing hash still costs a full verification."""

    def _verify() -> bool:
        try:
            if password_hash and password_hash.startswith(V4_BCRYPT_PREFIXES + V4_WERKZEUG_PREFIXES):
                return _verify_v4(password_hash, password)
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError, ValueError):
            return False

    return _bounded(_verify)


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash that just verified should be replaced: v4's, or argon2id with older costs."""
    if not password_hash.startswith(ARGON2_PREFIX):
        return True
    return _hasher.check_needs_rehash(password_hash)
