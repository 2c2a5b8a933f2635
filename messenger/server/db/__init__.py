"""The database: engine, per-request sessions and migrations.

Everything specific to SQLite lives in this package, so moving an office to
PostgreSQL is a change of `database_url` only.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from messenger.server import wirejson

MIGRATIONS = Path(__file__).with_name("migrations")


class Database:
    """One engine and a scoped session per thread/greenlet, bound by `open()`."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))

    @property
    def is_sqlite(self) -> bool:
        return self.engine is not None and self.engine.dialect.name == "sqlite"

    def open(self, url: str, sqlite_synchronous: str = "FULL") -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": 30}, pool_size=20, max_overflow=40,
                                        json_serializer=wirejson.dumps, json_deserializer=wirejson.loads)
            _tune_sqlite(self.engine, sqlite_synchronous)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=40,
                                        json_serializer=wirejson.dumps, json_deserializer=wirejson.loads)
        self.session.configure(bind=self.engine)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (run at every start)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file; called off the request path."""
        if self.is_sqlite:
            with self.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))

    def close(self) -> None:
        self.session.remove()
        if self.engine is not None:
            self.engine.dispose()


def _tune_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"sqlite_synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Automatic checkpoints stall whichever request triggers them; the server runs them itself.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()


database = Database()
