"""Consistent copies of a live database, SQLite or PostgreSQL (backup and restore use them)."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError


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
    revision: str = row[0]
    return revision


# --- PostgreSQL: its own tools (pg_dump, pg_restore), from the server's package ------------

def postgres_dump(url: str, target: Path) -> str:
    """`pg_dump` of the database at `url` (one consistent snapshot, taken while the server
    writes) to `target` in its custom format; returns the schema revision."""
    _run_tool("pg_dump", url, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}")
    return postgres_revision(url)


def postgres_restore(dump: Path, url: str) -> None:
    """`pg_restore` of a dump into the database at `url`, which must hold no tables; all of it
    or, on any error, nothing (one transaction)."""
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    except SQLAlchemyError as exc:
        raise SnapshotError(f"could not reach the database: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()
    if tables:
        raise SnapshotError(f"the database {make_url(url).database} is not empty ({len(tables)} tables): "
                            "restore only into a new, empty database")
    _run_tool("pg_restore", url, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              str(dump))


def postgres_revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            revision: str = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            return revision
    except SQLAlchemyError as exc:
        raise SnapshotError(f"could not read the database's schema revision: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()


def _run_tool(name: str, url: str, *args: str) -> None:
    """Run a PostgreSQL client tool on `url` (a SQLAlchemy URL), its password passed in the
    environment rather than on a command line others can read."""
    tool = shutil.which(name) or next(reversed(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if tool is None:
        raise SnapshotError(f"{name} is missing: install PostgreSQL's client tools (Debian: apt-get install "
                            "postgresql-client; Windows: PostgreSQL's bin folder on PATH)")
    parsed = make_url(url)
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run([tool, f"--dbname={libpq}", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SnapshotError(f"{name} failed: {done.stderr.strip() or done.stdout.strip()}")
