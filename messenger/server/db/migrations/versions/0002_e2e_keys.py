"""end-to-end keys: device public keys, room key versions, sealed packages, key requests, backups

Only new tables, so an existing 0001 database upgrades without copying anything.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_keys',
    sa.Column('device_session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('encryption_key', sa.String(length=64), nullable=False),
    sa.Column('signing_key', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_session_id'], ['device_sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_session_id')
    )
    with op.batch_alter_table('device_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_keys_user_id'), ['user_id'], unique=False)

    op.create_table('room_key_states',
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('history_visible_to_new_members', sa.Boolean(), nullable=False),
    sa.Column('rotation_required', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('room_id')
    )
    op.create_table('room_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_by_device_session_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_device_session_id'], ['device_sessions.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('room_id', 'key_id', name='uq_room_keys_key_id'),
    sa.UniqueConstraint('room_id', 'version', name='uq_room_keys_version')
    )
    op.create_table('room_key_packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('device_session_id', sa.Integer(), nullable=False),
    sa.Column('sender_device_session_id', sa.Integer(), nullable=True),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_session_id'], ['device_sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_device_session_id'], ['device_sessions.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_session_id', 'room_id', 'key_version', 'sender_device_session_id',
                        name='uq_room_key_packages_target_sender')
    )
    with op.batch_alter_table('room_key_packages', schema=None) as batch_op:
        batch_op.create_index('ix_room_key_packages_room_id_key_version', ['room_id', 'key_version'], unique=False)

    op.create_table('room_key_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('device_session_id', sa.Integer(), nullable=False),
    sa.Column('versions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('fulfilled_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['device_session_id'], ['device_sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('room_id', 'device_session_id', name='uq_room_key_requests_device')
    )
    op.create_table('key_backups',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('blob', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('device_session_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['device_session_id'], ['device_sessions.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )


def downgrade() -> None:
    op.drop_table('key_backups')
    op.drop_table('room_key_requests')
    with op.batch_alter_table('room_key_packages', schema=None) as batch_op:
        batch_op.drop_index('ix_room_key_packages_room_id_key_version')

    op.drop_table('room_key_packages')
    op.drop_table('room_keys')
    op.drop_table('room_key_states')
    with op.batch_alter_table('device_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_keys_user_id'))

    op.drop_table('device_keys')
