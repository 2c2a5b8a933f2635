"""Password hashing: argon2id with OWASP's parameters, always off the event loop."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from messenger.server.offload import offload

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# Verified against when the user does not exist, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")
# A hash takes a core and 19 MiB for tens of milliseconds: at most one per core at a time, so a
# login storm queues its logins (and its memory stays bounded) instead of ten hashing threads.
_hashing = threading.BoundedSemaphore(os.cpu_count() or 2)


def _bounded(fn, *args):
    with _hashing:
        return offload(fn, *args)


def hash_password(password: str) -> str:
    return _bounded(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; a missing hash still costs a full verification."""

    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return _bounded(_verify)
