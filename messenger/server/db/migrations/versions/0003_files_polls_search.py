"""files, polls and the search index

Upload tokens, room files and polls keep the v4 tables' names and columns (plus a few new
columns), so a v4 database's rows map over. On SQLite the search index is an FTS5 table
kept in step with `messages` and `room_files` by triggers, so every writer (the server,
an importer, the retention job) keeps it right without knowing it exists. It holds only
what the server may read: unencrypted text and system messages, and the names of
plaintext uploads. Other databases have no index table (search scans with ILIKE there).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# One search document per message: its readable text and the name of its plaintext file.
_READABLE_TEXT = "(m.encrypted = 0 AND m.message_type IN ('text', 'system') AND m.content <> '')"
_PLAIN_FILE = ("SELECT f.file_name FROM room_files f "
               "WHERE f.message_id = m.id AND f.encrypted = 0 AND f.deleted_at IS NULL AND f.file_name <> ''")


def _refresh(message_id: str) -> str:
    """SQL that rebuilds the search document of the message `message_id` (an SQL expression)."""
    return f"""
        DELETE FROM messages_fts WHERE rowid = {message_id};
        INSERT INTO messages_fts (rowid, content, file_name)
        SELECT m.id,
               CASE WHEN {_READABLE_TEXT} THEN m.content ELSE '' END,
               COALESCE(({_PLAIN_FILE}), '')
        FROM messages m
        WHERE m.id = {message_id} AND m.deleted_at IS NULL
          AND ({_READABLE_TEXT} OR EXISTS ({_PLAIN_FILE}));"""


_TRIGGERS = {
    "messages_fts_ai": f"AFTER INSERT ON messages BEGIN {_refresh('new.id')} END",
    "messages_fts_au": ("AFTER UPDATE OF content, encrypted, message_type, deleted_at ON messages "
                        f"BEGIN {_refresh('new.id')} END"),
    "messages_fts_ad": "AFTER DELETE ON messages BEGIN DELETE FROM messages_fts WHERE rowid = old.id; END",
    "room_files_fts_ai": f"AFTER INSERT ON room_files BEGIN {_refresh('new.message_id')} END",
    "room_files_fts_au": ("AFTER UPDATE OF message_id, file_name, encrypted, deleted_at ON room_files "
                          f"BEGIN {_refresh('old.message_id')} {_refresh('new.message_id')} END"),
    "room_files_fts_ad": f"AFTER DELETE ON room_files BEGIN {_refresh('old.message_id')} END",
}


def upgrade() -> None:
    op.create_table('upload_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('file_path', sa.String(length=255), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_type', sa.String(length=10), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('encrypted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('mime_type', sa.String(length=100), server_default='application/octet-stream', nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('consumed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('upload_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_upload_tokens_room_id_user_id', ['room_id', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_upload_tokens_expires_at'), ['expires_at'], unique=False)

    op.create_table('room_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('file_path', sa.String(length=255), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('file_type', sa.String(length=10), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.Column('encrypted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('mime_type', sa.String(length=100), server_default='application/octet-stream', nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('file_path'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('room_files', schema=None) as batch_op:
        batch_op.create_index('ix_room_files_room_id_id', ['room_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_room_files_uploaded_by'), ['uploaded_by'], unique=False)

    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('question', sa.String(length=200), nullable=False),
    sa.Column('multiple_choice', sa.Boolean(), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_polls_room_id'), ['room_id'], unique=False)

    op.create_table('poll_options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_text', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('poll_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_options_poll_id'), ['poll_id'], unique=False)

    op.create_table('poll_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('voted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['poll_options.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'option_id', 'user_id', name='uq_poll_votes_option_user')
    )
    with op.batch_alter_table('poll_votes', schema=None) as batch_op:
        batch_op.create_index('ix_poll_votes_poll_id_user_id', ['poll_id', 'user_id'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(content, file_name, tokenize='unicode61')")
        for name, body in _TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        # Index what is already there (room_files is new, so text messages only).
        op.execute("INSERT INTO messages_fts (rowid, content, file_name) "
                   f"SELECT m.id, m.content, '' FROM messages m WHERE m.deleted_at IS NULL AND {_READABLE_TEXT}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE messages_fts")
    with op.batch_alter_table('poll_votes', schema=None) as batch_op:
        batch_op.drop_index('ix_poll_votes_poll_id_user_id')

    op.drop_table('poll_votes')
    with op.batch_alter_table('poll_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_options_poll_id'))

    op.drop_table('poll_options')
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_polls_room_id'))

    op.drop_table('polls')
    with op.batch_alter_table('room_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_files_uploaded_by'))
        batch_op.drop_index('ix_room_files_room_id_id')

    op.drop_table('room_files')
    with op.batch_alter_table('upload_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_tokens_expires_at'))
        batch_op.drop_index('ix_upload_tokens_room_id_user_id')

    op.drop_table('upload_tokens')
