"""Consistent copies of a live SQLite database (backup and restore use them)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SnapshotError(Exception):
    """The database could not be copied or failed its checks; the message says why."""


def sqlite_snapshot(source: Path, target: Path) -> str:
    """Copy the live database to `target` in one step of SQLite's backup API and return its
    schema revision. One step is one read transaction: a consistent snapshot, and in WAL
    mode the server keeps writing meanwhile."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"could not read the database: {exc}") from None
    finally:
        dst.close()
        src.close()
    return sqlite_revision_checked(target)


def sqlite_revision_checked(db_file: Path) -> str:
    """The schema revision of a database file that passes SQLite's integrity check."""
    db = sqlite3.connect(db_file)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"could not read the database: {exc}") from None
    finally:
        db.close()
    if check != "ok":
        raise SnapshotError(f"it failed its integrity check: {check}")
    if row is None:
        raise SnapshotError("it has no schema revision (alembic_version is empty)")
    return row[0]
