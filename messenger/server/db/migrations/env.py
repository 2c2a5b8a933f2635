"""Alembic environment: runs on the connection the server hands over."""

from alembic import context

from messenger.server.db import described_by_models
from messenger.server.db.models import Base

connection = context.config.attributes["connection"]

context.configure(
    include_object=described_by_models,
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
