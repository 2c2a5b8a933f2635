"""user identities: one public identity key per user, the identity's signature per device

Cross-signing (spec/e2e-keys.md §3a). The server keeps these as opaque data: an identity
public key and a recovery blob per user, and a signature per device; it never holds a private
key. A new table and a nullable column, so existing databases upgrade without copying anything;
existing devices have no signature until their user's updated client makes the identity.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_keys',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('recovery_blob', sa.Text(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('device_session_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_session_id'], ['device_sessions.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('device_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_signature', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('device_keys', schema=None) as batch_op:
        batch_op.drop_column('identity_signature')
    op.drop_table('identity_keys')
