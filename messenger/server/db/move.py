"""Moving an office from its SQLite file to PostgreSQL (`messenger admin move-to`).

The target database must be new and empty: in one PostgreSQL transaction (all of it or
nothing) the migrations make its schema, then every table is copied in foreign-key order, while a
write lock on the SQLite file keeps a running server from adding anything meanwhile, and
each sequence is set past its table's highest id. Row counts are compared before the commit.
Files (uploads, keys) stay where they are: the data dir keeps serving them. The SQLite file
is kept too, with a note beside it (`MOVED_NOTE`) that stops a server or an admin command
from using it again by mistake (a second move is refused the same way).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Table, create_engine, func, inspect, make_url, select, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from messenger.server.db import Database, migrate_connection
from messenger.server.db.models import Base
from messenger.server.errors import Refused

MOVED_NOTE = "moved-to-postgresql.txt"
BATCH = 2000


class MoveRefused(Refused):
    """The move cannot start, or failed (nothing committed)."""


@dataclass
class MoveSummary:
    target: str
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def moved_note(data_dir: Path) -> str | None:
    """Where the office went, if its SQLite file was moved to PostgreSQL (else None)."""
    note = Path(data_dir) / MOVED_NOTE
    return note.read_text(encoding="utf-8").strip() if note.is_file() else None


def move_to_postgresql(data_dir: Path, sqlite_file: Path, url: str) -> MoveSummary:
    started = time.monotonic()
    if moved_note(data_dir) is not None:
        raise MoveRefused("ALREADY_MOVED", f"this office was already moved: {moved_note(data_dir)}")
    if not sqlite_file.is_file():
        raise MoveRefused("NO_DATABASE", f"there is no server database in {data_dir}")
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() != "postgresql":
        raise MoveRefused("MOVE_TARGET_INVALID", "--database-url must be a PostgreSQL URL: "
                                                 "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE")
    shown = parsed.render_as_string(hide_password=True)
    source = Database()
    source.open(f"sqlite:///{sqlite_file}")
    target = create_engine(url)
    try:
        source.migrate()  # the same schema revision on both sides
        try:
            tables = inspect(target).get_table_names()
        except SQLAlchemyError as exc:
            raise MoveRefused("MOVE_TARGET_UNREACHABLE", f"could not reach {shown}: {getattr(exc, 'orig', None) or exc}") from None
        if tables:
            raise MoveRefused("MOVE_TARGET_NOT_EMPTY", f"{shown} already holds {len(tables)} tables: move into a new, "
                                                       "empty database (createdb)")
        summary = MoveSummary(shown)
        with source.engine.connect() as reading, target.begin() as writing:
            migrate_connection(writing)  # PostgreSQL's DDL is transactional: the schema too, or nothing
            # BEGIN IMMEDIATE: a running server's writes wait (and then fail) instead of landing
            # in the file after their table was copied.
            try:
                reading.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as exc:
                raise MoveRefused("DATABASE_BUSY", f"the SQLite database stays busy ({exc.orig}): "
                                                   "stop the server first") from None
            for table in Base.metadata.sorted_tables:
                try:
                    summary.rows[table.name] = _copy(reading, writing, table)
                except SQLAlchemyError as exc:
                    raise MoveRefused("MOVE_FAILED", f"{table.name}: {getattr(exc, 'orig', None) or exc}; nothing was committed") \
                        from None
            for table in Base.metadata.sorted_tables:
                _set_sequence(writing, table)
            reading.rollback()
    finally:
        source.close()
        target.dispose()
    note = Path(data_dir) / MOVED_NOTE
    note.write_text(f"moved to {shown} at {datetime.now(timezone.utc).isoformat()}; the server now runs with "
                    f"MESSENGER_DATABASE_URL set to that database ({sqlite_file.name} is the copy from before)\n",
                    encoding="utf-8")
    summary.seconds = time.monotonic() - started
    return summary


def _copy(reading: Connection, writing: Connection, table: Table) -> int:
    """Every row of `table`, in batches; the count is checked against the source's."""
    copied = 0
    rows = reading.execute(select(table).order_by(*table.primary_key.columns))
    while batch := rows.fetchmany(BATCH):
        writing.execute(table.insert(), [row._asdict() for row in batch])
        copied += len(batch)
    stored = writing.execute(select(func.count()).select_from(table)).scalar_one()
    if stored != copied:
        raise MoveRefused("MOVE_FAILED", f"{table.name}: {copied} rows read, {stored} stored; nothing was committed")
    return copied


def _set_sequence(writing: Connection, table: Table) -> None:
    """Past the highest id, so the next row PostgreSQL numbers does not collide with a copied one."""
    if "id" not in table.primary_key.columns:
        return
    writing.execute(text("SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                         "COALESCE((SELECT MAX(id) FROM " + table.name + "), 0) + 1, false)"),
                    {"table": table.name})
