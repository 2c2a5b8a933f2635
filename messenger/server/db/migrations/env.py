"""Alembic environment: runs on the connection the server hands over."""

from typing import Any

from alembic import context

from messenger.server.db.models import Base

connection = context.config.attributes["connection"]


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """The search index (FTS5 tables and their shadow tables) is made by hand in 0003."""
    return not (type_ == "table" and name is not None and name.startswith("messages_fts"))


context.configure(
    include_object=include_object,
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
