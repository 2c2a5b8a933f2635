"""The migrations on each database, one revision at a time (the whole chain from 0001 is
`test_keys.test_a_database_made_at_0001_upgrades_and_keeps_its_users`)."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from messenger.server.db import MIGRATIONS, described_by_models, migrate_connection
from messenger.server.db.models import Base

ENDED = {"ix_device_sessions_expires_at", "ix_device_sessions_revoked_at"}


@pytest.fixture
def engine(database_env, tmp_path):
    """An empty database: a file on SQLite, a fresh database of the session's PostgreSQL."""
    url = database_env().get("MESSENGER_DATABASE_URL") or f"sqlite:///{tmp_path / 'messenger.db'}"
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.contract  # the migrations, on each database
def test_0007_indexes_when_device_sessions_end_and_takes_them_back(engine):
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))

    def to(step, revision: str) -> set[str]:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            step(cfg, revision)
        return ENDED & {index["name"] for index in inspect(engine).get_indexes("device_sessions")}

    assert to(command.upgrade, "0006") == set()
    assert to(command.upgrade, "0007") == ENDED
    assert to(command.downgrade, "0006") == set()


@pytest.mark.contract
def test_the_migrations_make_the_schema_the_models_describe(engine):
    """Tables, columns, types, nullability, server defaults, indexes, unique and foreign keys:
    what autogenerate would write as a new migration is nothing."""
    with engine.begin() as connection:
        migrate_connection(connection)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True, "include_object": described_by_models})
        assert compare_metadata(context, Base.metadata) == []
