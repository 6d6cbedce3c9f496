"""console: web console sessions; failed look-ups and sign-ins in one rate-limit table

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:20:00

The failures of the old pass_lookup_failures table matter only for 60 seconds: they are not carried over.
"""
from alembic import op
import sqlalchemy as sa
import benefits.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('failed_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_attempts'))
    )
    with op.batch_alter_table('failed_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_failed_attempts_kind_subject_at', ['kind', 'subject', 'at'], unique=False)
    op.drop_table('pass_lookup_failures')
    op.create_table('console_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_console_sessions_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_key_id'), ['key_id'], unique=False)


def downgrade() -> None:
    op.drop_table('console_sessions')
    op.create_table('pass_lookup_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pass_lookup_failures'))
    )
    op.drop_table('failed_attempts')
