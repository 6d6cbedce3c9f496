"""outbox: messages, webhook endpoints and deliveries; lots remember their expiry notice

Messages are written in the transaction of the change they report; a delivery is one message to one
endpoint. Nothing is carried over: the service told nobody anything before this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 13:30:00
"""
from alembic import op
import sqlalchemy as sa
import benefits.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.CheckConstraint("type IN ('tier.changed', 'tier.downgrade_scheduled', 'tier.downgrade_cancelled', 'signal.raised', 'signal.cleared', 'points.expiring', 'redemption.confirmed', 'redemption.cancelled', 'redemption.lapsed', 'rule_version.activated')", name=op.f('ck_outbox_messages_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_messages_message_id'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('types', sa.JSON(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('previous_secret', sa.Text(), nullable=True),
    sa.Column('previous_secret_expires_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('secret_rotated_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'disabled', 'deleted')", name=op.f('ck_webhook_endpoints_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('leased_until', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease', sa.String(length=32), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('delivered_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed', 'skipped')", name=op.f('ck_webhook_deliveries_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_messages.id'], name=op.f('fk_webhook_deliveries_message_id_outbox_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_endpoint', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index('uq_webhook_deliveries_stream', ['endpoint_id', 'stream', 'message_id'], unique=True)

    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiry_notified_at', benefits.models.UTCDateTime(timezone=True), nullable=True))

def downgrade() -> None:
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_column('expiry_notified_at')

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('uq_webhook_deliveries_stream')
        batch_op.drop_index('ix_webhook_deliveries_endpoint')
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_message_id'))
        batch_op.drop_index('ix_webhook_deliveries_due')

    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_occurred_at'))

    op.drop_table('outbox_messages')
