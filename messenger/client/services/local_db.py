"""The client's own SQLite files (the outbox, the search index): opened and migrated one way.

Both hold private text (queued messages, the plaintext of read messages), so the file is made
for this OS account only before SQLite opens it (SQLite gives its -wal and -shm files the
database file's mode). A store that can be sealed at rest (the search index) is sealed under
the account's local data key, which the OS keyring keeps beside the device token and which
sign-out forgets (`local_data_key`, `forget_local_data_key`).
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

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
