"""The models' own promises, which the schema comparison (test_migrations) cannot see."""

from sqlalchemy import DateTime

from messenger.server.db.models import Base, UTCDateTime


def test_every_time_column_keeps_utc():
    """In SQL a UTCDateTime is a plain DATETIME, so only the model says that a column hands back
    timezone-aware UTC and refuses naive times (a TypeDecorator is no DateTime subclass)."""
    columns = [column for table in Base.metadata.tables.values() for column in table.columns]
    assert [column for column in columns if isinstance(column.type, DateTime)] == []
    assert any(isinstance(column.type, UTCDateTime) for column in columns)
