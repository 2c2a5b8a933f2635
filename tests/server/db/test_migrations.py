"""The migrations on each database, one revision at a time (the whole chain from 0001 is
`test_keys.test_a_database_made_at_0001_upgrades_and_keeps_its_users`)."""

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from messenger.server.db import MIGRATIONS

ENDED = {"ix_device_sessions_expires_at", "ix_device_sessions_revoked_at"}


@pytest.mark.contract  # the migrations, on each database
def test_0007_indexes_when_device_sessions_end_and_takes_them_back(database_env, tmp_path):
    url = database_env().get("MESSENGER_DATABASE_URL") or f"sqlite:///{tmp_path / 'messenger.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))

    def to(step, revision: str) -> set[str]:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            step(cfg, revision)
        return ENDED & {index["name"] for index in inspect(engine).get_indexes("device_sessions")}

    try:
        assert to(command.upgrade, "0006") == set()
        assert to(command.upgrade, "0007") == ENDED
        assert to(command.downgrade, "0006") == set()
    finally:
        engine.dispose()
