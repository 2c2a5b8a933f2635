"""The database: engine, per-request sessions and migrations.

Everything specific to SQLite or PostgreSQL lives in this package, so moving an office to
PostgreSQL is a change of `database_url` (and `messenger admin move-to`) only.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app
from sqlalchemy import create_engine, event, text
from sqlalchemy.sql import sqltypes
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from werkzeug.local import LocalProxy

from messenger.server import wirejson

MIGRATIONS = Path(__file__).with_name("migrations")


class Database:
    """One engine and a scoped session per thread/greenlet, bound by `open()`."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the database is not open: Database.open(url) comes first")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self._engine is not None and self._engine.dialect.name == "sqlite"

    def open(self, url: str, sqlite_synchronous: str = "FULL") -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30}, pool_size=20, max_overflow=40,
                                   json_serializer=wirejson.dumps, json_deserializer=wirejson.loads)
            _tune_sqlite(engine, sqlite_synchronous)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=40,
                                   json_serializer=wirejson.dumps, json_deserializer=wirejson.loads)
            if engine.dialect.name == "postgresql":
                # SQLAlchemy casts integer parameters to the column's INTEGER for psycopg, so an id
                # past 32 bits named in a request fails ("out of range") instead of finding no row.
                # Uncast, psycopg sends it as the bigint it is, and the comparison is just false.
                engine.dialect.colspecs = {**engine.dialect.colspecs, sqltypes.Integer: sqltypes.Integer}
        self._engine = engine
        self.session.configure(bind=engine)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (run at every start)."""
        with self.engine.begin() as connection:
            migrate_connection(connection)

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file; called off the request path."""
        if self.is_sqlite:
            with self.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))

    def close(self) -> None:
        self.session.remove()
        if self._engine is not None:
            self._engine.dispose()


def described_by_models(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's `include_object`: False for the search index, which the migrations make by
    hand and the models do not describe (FTS5 tables from 0003 on SQLite, trigram indexes from
    0006 on PostgreSQL)."""
    return name is None or not (type_ == "table" and name.startswith("messages_fts")
                                or type_ == "index" and name.endswith("_trgm"))


def migrate_connection(connection: Connection) -> None:
    """Run the migrations up to the newest in the transaction of `connection`."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def migrate_database(url: str) -> None:
    """Bring the database at `url` to the newest schema with an engine of its own (restore, move)."""
    other = Database()
    other.open(url)
    try:
        other.migrate()
    finally:
        other.close()


def _tune_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"sqlite_synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Automatic checkpoints stall whichever request triggers them; the server runs them itself.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()


def database_of(app: Flask) -> Database:
    """The database `create_app` opened for `app` (each app has its own)."""
    found: Database = app.extensions["database"]
    return found


# The database of the app in context, looked up at each use as `current_app` is: the call
# sites stay `database.session...`, and two apps in one process never share an engine.
database = cast(Database, LocalProxy(lambda: database_of(current_app)))
