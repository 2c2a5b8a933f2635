"""PostgreSQL: a trigram search index, and event ids handed out in commit order

Nothing changes on SQLite (FTS5 from 0003 is its index; one writer at a time already makes
event ids follow commit order).

On PostgreSQL:
- pg_trgm GIN indexes on unencrypted message text and plaintext file names: search narrows
  its candidates with ILIKE through them (trigrams index Hangul as well as Latin letters),
  then checks FTS5's word-beginning rule (`db/search.py`). The predicates say only "not
  encrypted": a query's bound IN list could never prove a narrower one.
- Event ids come from a sequence, and two transactions can commit in the other order than
  they drew their ids: a catch-up reader at cursor N could then pass an id below N that
  commits later. A statement trigger on `events` takes a transaction-level advisory lock
  before any id is drawn, so transactions that write events hold it from their first event
  to their commit, one at a time: ids are drawn in commit order, as on SQLite, and the
  cursor stays a plain number.

Revision ID: 0006
Revises: 0005
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Any constant: the one lock all transactions that write events take (pg_advisory_xact_lock).
EVENTS_LOCK_KEY = 7_131_705


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_messages_content_trgm ON messages USING gin (content gin_trgm_ops) "
               "WHERE encrypted = false")
    op.execute("CREATE INDEX ix_room_files_file_name_trgm ON room_files USING gin (file_name gin_trgm_ops) "
               "WHERE encrypted = false")
    op.execute(f"""
        CREATE FUNCTION events_in_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({EVENTS_LOCK_KEY});
            RETURN NULL;
        END $$""")
    # BEFORE ... FOR EACH STATEMENT runs before the statement evaluates its rows' defaults,
    # hence before nextval() draws their ids.
    op.execute("CREATE TRIGGER events_in_commit_order BEFORE INSERT ON events "
               "FOR EACH STATEMENT EXECUTE FUNCTION events_in_commit_order()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER events_in_commit_order ON events")
    op.execute("DROP FUNCTION events_in_commit_order()")
    op.execute("DROP INDEX ix_room_files_file_name_trgm")
    op.execute("DROP INDEX ix_messages_content_trgm")
