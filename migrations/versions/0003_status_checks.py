"""status checks: every status and kind column holds only the values its enum names

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CHECKS = {
    "partners": {"kind": ("hospital", "hotel", "lounge", "education", "other")},
    "api_keys": {"role": ("app", "partner", "admin")},
    "rule_versions": {"status": ("draft", "approved", "active", "retired"), "source_type": ("json", "yaml")},
    "events": {"type": ("transaction", "learning")},
    "ledger_entries": {"kind": ("earn", "redeem", "expire", "reverse", "adjust")},
    "redemptions": {"status": ("held", "confirmed", "cancelled", "lapsed"), "source": ("rule", "reward")},
}


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                listed = ", ".join(f"'{value}'" for value in values)
                batch_op.create_check_constraint(column, f"{column} IN ({listed})")


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(f"ck_{table}_{column}", type_="check")
