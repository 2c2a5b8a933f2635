"""browser devices: a device session can be a browser's cookie session

In hybrid mode the browser client is a device with its own keys (spec/e2e.md §9), so its sign-in
is a device session like a desktop's, told apart by `kind`. Existing rows are desktops.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=False, server_default='desktop'))


def downgrade() -> None:
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.drop_column('kind')
