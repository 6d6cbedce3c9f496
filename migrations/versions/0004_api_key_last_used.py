"""api key last used: when a key was last used, to within five minutes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00
"""
from alembic import op
import sqlalchemy as sa
import benefits.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', benefits.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
