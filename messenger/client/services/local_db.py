"""The client's own SQLite files (the outbox, the search index): opened and migrated one way.

Both hold private text (queued messages and files, the plaintext of read messages), so the file
is made for this OS account only before SQLite opens it (SQLite gives its -wal and -shm files the
database file's mode), and what they hold is sealed (`LocalSeal`, AES-256-GCM) under the
account's local data key, which the OS keyring (or the DPAPI-protected fallback) keeps beside the
device token and which sign-out forgets (`local_data_key`, `forget_local_data_key`): file mode
alone protects nothing from an administrator, a backup or a stolen disk.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from messenger.client.services.session_store import SessionStore


def _local_data_key_name(username: str) -> str:
    return f"{username}#local-data-key"


def local_data_key(store: SessionStore, server_url: str, username: str) -> bytes:
    """The account's 32-byte local data key, made (and kept in the OS keyring, or the protected
    fallback) the first time."""
    text = store.load_token(server_url, _local_data_key_name(username))
    if text is not None:
        key = base64.b64decode(text)
        if len(key) == 32:
            return key
    key = os.urandom(32)
    store.save_token(server_url, _local_data_key_name(username), base64.b64encode(key).decode())
    return key


def forget_local_data_key(store: SessionStore, server_url: str, username: str) -> None:
    """Forget the key (at sign-out): whatever it sealed cannot be opened any more."""
    store.forget_token(server_url, _local_data_key_name(username))


class LocalSeal:
    """AES-256-GCM under the account's local data key. A sealed value is a fresh 12-byte nonce and
    the ciphertext, bound to `context` (what it is, e.g. which outbox row), so that a value moved to
    another place does not open there. `open` raises cryptography's InvalidTag for a value sealed
    under another key or context, or changed."""

    NONCE_BYTES = 12

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(self.NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(sealed[:self.NONCE_BYTES], sealed[self.NONCE_BYTES:], context)


def delete_local_database(path: Path) -> None:
    """Delete a database file and SQLite's -wal and -shm files beside it."""
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        each.unlink(missing_ok=True)


def migrate(conn: sqlite3.Connection, schema: list[str]) -> sqlite3.Connection:
    """Apply every `schema` step after the database's `user_version` (step N sets user_version N)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(schema[version:], start=version + 1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    return conn


def open_local_database(path: Path, schema: list[str], *, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, with every `schema` step after the file's
    `user_version` applied (step N sets user_version N)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return migrate(conn, schema)
