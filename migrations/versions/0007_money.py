"""money: exchange rates, manual adjustments, and what the finance reports need

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06 13:25:08

What the reports need of data that existed before:
- lots' movements start now: each lot with points left gets one `opening` movement of its remainder, and the
  moment is kept in report_cutover (only when the ledger holds entries: a new database has complete history);
- a redemption's tier at its hold comes from the tier history (else the customer's tier now);
- customers are marked for re-evaluation (tier_version 0), so that each stores its benefit grants the next time
  it is read, earns or is upserted (or with `benefits customers reevaluate`);
- events recorded before keep no currency and no rate (rate 1), redemptions confirmed before have no unit price,
  and no signal history exists before now.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import benefits.models


revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fx_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rate', benefits.models.ExactDecimal(length=40), nullable=False),
    sa.Column('valid_from', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('set_by', sa.String(length=100), nullable=False),
    sa.Column('set_by_key_id', sa.Integer(), nullable=True),
    sa.Column('set_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fx_rates'))
    )
    with op.batch_alter_table('fx_rates', schema=None) as batch_op:
        batch_op.create_index('ix_fx_rates_currency_valid_from', ['currency', 'valid_from', 'id'], unique=False)

    op.create_table('report_cutover',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_cutover'))
    )
    op.create_table('adjustments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('author_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approver', sa.String(length=100), nullable=True),
    sa.Column('approver_key_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', benefits.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ledger_entry_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved')", name=op.f('ck_adjustments_status')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_adjustments_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments'))
    )
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adjustments_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adjustments_status'), ['status'], unique=False)

    op.create_table('customer_grants',
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('benefit', sa.String(length=64), nullable=False),
    sa.Column('tier', sa.String(length=64), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=True),
    sa.Column('per', sa.String(length=16), nullable=True),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_grants_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', 'rule_id', name=op.f('pk_customer_grants'))
    )
    with op.batch_alter_table('customer_grants', schema=None) as batch_op:
        batch_op.create_index('ix_customer_grants_benefit_tier', ['benefit', 'tier'], unique=False)

    op.create_table('signal_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('signal', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.Column('changed_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('raised', 'cleared')", name=op.f('ck_signal_changes_kind')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_signal_changes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_changes'))
    )
    with op.batch_alter_table('signal_changes', schema=None) as batch_op:
        batch_op.create_index('ix_signal_changes_changed_at', ['changed_at', 'kind', 'signal'], unique=False)
        batch_op.create_index(batch_op.f('ix_signal_changes_customer_id'), ['customer_id'], unique=False)

    op.create_table('lot_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('posted_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', benefits.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('earn', 'redeem', 'expire', 'reverse', 'adjust', 'opening')", name=op.f('ck_lot_movements_kind')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_lot_movements_lot_id_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_movements'))
    )
    with op.batch_alter_table('lot_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_movements_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index('ix_lot_movements_posted', ['posted_at', 'kind', 'expires_at', 'points'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('fx_rate', benefits.models.ExactDecimal(length=40), nullable=True))

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_posted', ['created_at', 'kind', 'points'], unique=False)

    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index('ix_lots_unspent', ['expires_at', 'remaining'], unique=False, postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))

    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('unit_price', benefits.models.Money(), nullable=True))
        batch_op.create_index('ix_redemptions_partner_cancelled', ['partner_id', 'cancelled_at'], unique=False)
        batch_op.create_index('ix_redemptions_partner_confirmed', ['partner_id', 'confirmed_at'], unique=False)

    carry_over()


def carry_over() -> None:
    """The existing data into the new tables and columns (see the module's docstring)."""
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT 1 FROM ledger_entries LIMIT 1")).first() is not None:
        cutover = sa.bindparam("at", datetime.now(timezone.utc), type_=benefits.models.UTCDateTime())
        connection.execute(sa.text("INSERT INTO report_cutover (id, at) VALUES (1, :at)").bindparams(cutover))
        connection.execute(sa.text(
            "INSERT INTO lot_movements (lot_id, kind, points, posted_at, expires_at) "
            "SELECT id, 'opening', remaining, :at, expires_at FROM lots WHERE remaining > 0").bindparams(cutover))
    connection.execute(sa.text(
        "UPDATE redemptions SET tier = COALESCE("
        "(SELECT t.to_tier FROM tier_changes t WHERE t.customer_id = redemptions.customer_id "
        "AND t.changed_at <= redemptions.created_at ORDER BY t.changed_at DESC, t.id DESC LIMIT 1), "
        "(SELECT c.tier FROM customers c WHERE c.id = redemptions.customer_id))"))
    connection.execute(sa.text("UPDATE customers SET tier_version = 0"))


def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_partner_confirmed')
        batch_op.drop_index('ix_redemptions_partner_cancelled')
        batch_op.drop_column('unit_price')
        batch_op.drop_column('tier')

    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index('ix_lots_unspent', postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_posted')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('fx_rate')
        batch_op.drop_column('currency')

    with op.batch_alter_table('lot_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_lot_movements_posted')
        batch_op.drop_index(batch_op.f('ix_lot_movements_lot_id'))

    op.drop_table('lot_movements')
    with op.batch_alter_table('signal_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signal_changes_customer_id'))
        batch_op.drop_index('ix_signal_changes_changed_at')

    op.drop_table('signal_changes')
    with op.batch_alter_table('customer_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_grants_benefit_tier')

    op.drop_table('customer_grants')
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adjustments_status'))
        batch_op.drop_index(batch_op.f('ix_adjustments_customer_id'))

    op.drop_table('adjustments')
    op.drop_table('report_cutover')
    with op.batch_alter_table('fx_rates', schema=None) as batch_op:
        batch_op.drop_index('ix_fx_rates_currency_valid_from')

    op.drop_table('fx_rates')
