"""device sessions: indexes on their expiry and revoke times

Each server process checks every few seconds for sign-ins that ended lately (revoked, or
expired since the last look: `actions.admin.close_ended_sockets`). Without these it reads the
whole table each round; with them it reads only the rows that ended.

Revision ID: 0007
Revises: 0006
"""

from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_device_sessions_expires_at', 'device_sessions', ['expires_at'])
    op.create_index('ix_device_sessions_revoked_at', 'device_sessions', ['revoked_at'])


def downgrade() -> None:
    op.drop_index('ix_device_sessions_revoked_at', table_name='device_sessions')
    op.drop_index('ix_device_sessions_expires_at', table_name='device_sessions')
