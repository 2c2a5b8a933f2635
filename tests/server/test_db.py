"""The database object: an engine asked for before `open` is a clear error, not a None deep inside."""

import pytest

from messenger.server.db import Database


def test_the_engine_of_a_database_not_yet_open_is_refused_by_name(tmp_path):
    database = Database()
    with pytest.raises(RuntimeError, match="not open"):
        database.engine.connect()
    database.open(f"sqlite:///{tmp_path / 'messenger.db'}")
    try:
        assert database.engine.dialect.name == "sqlite" and database.is_sqlite
    finally:
        database.close()
