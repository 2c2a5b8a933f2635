"""The client's own SQLite files (the outbox, the search index): opened and migrated one way.

Both hold private text (queued messages, the plaintext of read messages), so the file is made
for this OS account only before SQLite opens it (SQLite gives its -wal and -shm files the
database file's mode).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def open_local_database(path: Path, schema: list[str], *, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, with every `schema` step after the file's
    `user_version` applied (step N sets user_version N)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(schema[version:], start=version + 1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    return conn
